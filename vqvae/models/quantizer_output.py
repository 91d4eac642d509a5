"""What every quantizer returns, and the code-usage bookkeeping they share."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange

from vqvae.models.code_search import all_reduce_sum
from vqvae.models.metrics import code_usage, perplexity


@dataclass
class QuantizerOutput:
    z_q: torch.Tensor  # [B, D, h, w], straight-through: forward = codes, backward reaches the encoder
    indices: torch.Tensor  # [B, h, w]
    codebook_loss: torch.Tensor  # ||sg[z_e] - e||^2 (zero for EMA: the averages move the codes)
    commitment_loss: torch.Tensor  # ||z_e - sg[e]||^2, unweighted
    loss: torch.Tensor  # codebook_loss + beta * commitment_loss
    perplexity: torch.Tensor  # exp(entropy of the batch's code usage)
    codes_used: torch.Tensor  # distinct codes in the batch
    dead_codes: torch.Tensor  # codes unused for the last dead_code_window training steps


def counted_usage(indices: torch.Tensor, codebook_size: int, steps_unused: torch.Tensor, training: bool) -> torch.Tensor:
    """How often each code occurs in indices [N] -> [K]; while training, also the steps since
    each code was last chosen on any rank (steps_unused [K], updated in place)."""
    counts = code_usage(indices, codebook_size)
    if training:
        with torch.no_grad():
            used = all_reduce_sum(counts.clone()) > 0
            steps_unused.add_(1).masked_fill_(used, 0)
    return counts


def quantizer_output(z_q: torch.Tensor, indices: torch.Tensor, shape: torch.Size, counts: torch.Tensor,
                     dead_codes: torch.Tensor, codebook_loss: torch.Tensor, commitment_loss: torch.Tensor,
                     loss: torch.Tensor) -> QuantizerOutput:
    """Rows z_q [(b h w), D] and indices [(b h w)] back on the grid of z_e (shape [B, D, h, w]),
    with the losses and the batch's usage statistics."""
    b, _, h, w = shape
    return QuantizerOutput(
        z_q=rearrange(z_q, "(b h w) d -> b d h w", b=b, h=h, w=w),
        indices=rearrange(indices, "(b h w) -> b h w", b=b, h=h, w=w),
        codebook_loss=codebook_loss,
        commitment_loss=commitment_loss,
        loss=loss,
        perplexity=perplexity(counts),
        codes_used=(counts > 0).sum(),
        dead_codes=dead_codes,
    )
