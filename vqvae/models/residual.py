"""Residual VQ (RQ-VAE, Lee et al. 2022; SoundStream, Zeghidour et al. 2021): a stack of
codebooks, each quantising what the ones before it left over,

    r_0 = z_e,  q_s = nearest code of stage s to r_s,  r_{s+1} = r_s - q_s,  z_q = sum_s q_s,

so a position takes one of K' ** depth sums while each codebook holds only K' codes.

To the rest of the product a position still holds one code: the stages' indices read as
the digits of one number in base K', first stage lowest, k = k_0 + K' k_1 + ... . So the
model's codebook size is K' ** depth, the prior models those combined codes (one token a
position, out of K' ** depth), and the pages' code maps, atlas and edits serve as they are.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vqvae.models.metrics import code_usage
from vqvae.models.quantizer_output import QuantizerOutput, quantizer_output


class ResidualQuantizer(nn.Module):
    """Stages of one kind (plain, EMA or SimVQ codebooks, each with its own restarts).

    Each stage's losses are its own (its commitment pulls the residual it saw, and so the
    encoder); the sum of the stages' codes is passed straight through once, z_e + sg(z_q - z_e)."""

    def __init__(self, stages: list[nn.Module]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.depth = len(stages)
        self.stage_size = stages[0].codebook_size
        self.codebook_size = self.stage_size**self.depth
        self.code_dim = stages[0].code_dim
        self.beta = stages[0].beta
        self.dead_code_window = stages[0].dead_code_window
        self.learnt_by_loss = stages[0].learnt_by_loss
        self.register_buffer("digit_values", self.stage_size ** torch.arange(self.depth), persistent=False)

    @property
    def steps_unused(self) -> torch.Tensor:
        """[depth K'] the steps since each stage's codes were last chosen, stage by stage."""
        return torch.cat([stage.steps_unused for stage in self.stages])

    def digits(self, indices: torch.Tensor) -> torch.Tensor:
        """Combined codes [...] -> each stage's code [..., depth]."""
        return (indices.unsqueeze(-1) // self.digit_values) % self.stage_size

    def search_vectors(self, z: torch.Tensor) -> torch.Tensor:
        """The combined codes are sums in the code space itself."""
        return z

    def stage_codes(self, z: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Encoder outputs [N, D] -> each stage's (codes [N], what is left after it [N, D]),
        stage after stage (greedy, as in training)."""
        residual, chosen = z.float(), []
        for stage in self.stages:
            k = stage.nearest(residual)
            residual = residual - stage.lookup(k).float()
            chosen.append((k, residual))
        return chosen

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder outputs [N, D] -> combined codes [N]."""
        return sum(k * value for (k, _), value in zip(self.stage_codes(z), self.digit_values))

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Combined codes [...] -> the sum of their stages' codes [..., D]."""
        digits = self.digits(indices)
        return sum(stage.lookup(digits[..., s]) for s, stage in enumerate(self.stages))

    @property
    def codebook(self) -> torch.Tensor:
        """Every combined code's vector [K' ** depth, D]."""
        return self.lookup(torch.arange(self.codebook_size, device=self.digit_values.device))

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        residual, total = z_e, torch.zeros_like(z_e)
        index = torch.zeros(z_e.shape[0], *z_e.shape[2:], dtype=torch.long, device=z_e.device)
        outputs = []
        for stage, value in zip(self.stages, self.digit_values):
            out = stage(residual)
            code = out.z_q.detach()
            total, residual, index = total + code, residual - code, index + out.indices * value
            outputs.append(out)
        flat = rearrange(index, "b h w -> (b h w)")
        z_q = rearrange(z_e + (total - z_e).detach(), "b d h w -> (b h w) d")
        return quantizer_output(z_q, flat, z_e.shape, code_usage(flat, self.codebook_size),
                                dead_codes=sum(out.dead_codes for out in outputs),
                                codebook_loss=sum(out.codebook_loss for out in outputs),
                                commitment_loss=sum(out.commitment_loss for out in outputs),
                                loss=sum(out.loss for out in outputs))
