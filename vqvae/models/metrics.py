"""Numbers that describe a model: PSNR, code usage and perplexity."""

from __future__ import annotations

import math

import torch


def psnr(mse: float, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB for a mean squared error on images in [0, peak]."""
    if mse <= 0:
        return float("inf")
    return 10.0 * math.log10(peak * peak / mse)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(-sum p log p) of a usage histogram [K]: K when every code is used equally, 1 when one is."""
    p = counts.float() / counts.sum().clamp_min(1)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return entropy.exp()


def code_usage(indices: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """How often each code occurs in an index tensor of any shape -> [K] int64.

    Counted by index_add_, not bincount: on a GPU bincount reads the largest index back to
    the host to size its output, a wait for the device at every training step."""
    flat = indices.reshape(-1)
    return torch.zeros(codebook_size, dtype=torch.long, device=flat.device).index_add_(0, flat, torch.ones_like(flat))


def code_bits(h: int, w: int, codebook_size: int) -> float:
    """The bits one image's code grid takes: h x w codes of log2(K) bits each."""
    return h * w * math.log2(codebook_size)


def bits(nats: float) -> float:
    return nats / math.log(2)


def unigram_nll(train_codes: torch.Tensor, val_codes: torch.Tensor, codebook_size: int) -> float:
    """Mean NLL (nats per code) of the held-out codes under the training codes' frequencies:
    the baseline a prior that ignores context would reach. Add-one smoothing keeps a code
    that never occurs in training finite."""
    counts = code_usage(train_codes, codebook_size).double() + 1
    log_p = (counts / counts.sum()).log()
    return float(-log_p[val_codes.reshape(-1)].mean())
