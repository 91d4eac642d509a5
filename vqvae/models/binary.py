"""Binary codes with no codebook to look up: lookup-free quantisation (LFQ, MAGVIT-v2, Yu et
al. 2023) and binary spherical quantisation (BSQ, Zhao et al. 2024).

Each of the D = log2 K numbers of an encoder output is one bit of its code: its sign. LFQ
quantises z to s * sign(z) with s = 1; BSQ first puts z on the unit sphere, u = z / |z|, and
quantises u to sign(u) / sqrt(D), a point of the sphere too. Codes are the 2^D corners of
that cube; code k has bit i set (+s) where bit i of k is 1, first dimension lowest.

Nothing is learnt here, so nothing pulls the codes apart: an entropy loss does (MAGVIT-v2,
section 3.1). With q(c | z) = softmax_c(-|z - c|^2 / tau) the loss is

    E_z[H(q(c | z))] - gamma H(E_z[q(c | z)]),

confident choices, spread over the whole codebook. Over the corners of a cube q factorises
into one bit each, q(bit i = +s | z) = sigmoid(4 s z_i / tau), so the first term is a sum of
bit entropies. The second is the entropy of the batch's mean q over all K codes, each row's
log q(c | z) summed from its bits' log-probabilities (one matrix product); read per bit
instead (BSQ's factorised bound) it let 34 of BSQ's 128 codes and most of LFQ's fall out of
use on MNIST, where the joint one keeps every code in use (docs/codebooks.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vqvae.models.quantizer_output import QuantizerOutput, counted_usage, quantizer_output

TEMPERATURE = 0.01  # tau: a bit's probability sigmoid(400 s z_i), as the reference implementation's
DIVERSITY = 1.0  # gamma, the codebook entropy's weight within the entropy loss (MAGVIT-v2's 1)
ENTROPY_CELLS = 2**22  # rows x codes of the codebook entropy's q: evenly spaced rows of a larger batch stand in


def bit_entropy_of_logits(logits: torch.Tensor) -> torch.Tensor:
    """The entropy in nats of Bernoulli(sigmoid(logits)), elementwise, with a finite gradient
    even where the sigmoid saturates: log p = -softplus(-l), log(1 - p) = -softplus(l)."""
    p = torch.sigmoid(logits)
    return p * F.softplus(-logits) + (1 - p) * F.softplus(logits)


class BinaryQuantizer(nn.Module):
    """LFQ (spherical=False) or BSQ (spherical=True) over `code_dim` bits: 2^code_dim codes."""

    def __init__(self, code_dim: int, spherical: bool = False, beta: float = 0.25, entropy_weight: float = 0.1,
                 dead_code_window: int = 100):
        super().__init__()
        self.code_dim = code_dim
        self.codebook_size = 2**code_dim
        self.spherical = spherical
        self.scale = 1 / math.sqrt(code_dim) if spherical else 1.0
        self.beta = beta
        self.entropy_weight = entropy_weight
        self.dead_code_window = dead_code_window
        self.register_buffer("bit_values", 2 ** torch.arange(code_dim), persistent=False)
        self.register_buffer("steps_unused", torch.zeros(self.codebook_size, dtype=torch.long))

    def search_vectors(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder outputs [N, D] -> the vectors whose signs are the bits (on the sphere for BSQ)."""
        return F.normalize(z, dim=-1) if self.spherical else z

    def _corner(self, u: torch.Tensor) -> torch.Tensor:
        return torch.where(u > 0, self.scale, -self.scale).to(u.dtype)

    def indices_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Corners [N, D] -> indices [N]: bit i of the index is 1 where dimension i is positive."""
        return ((codes > 0).long() * self.bit_values).sum(-1)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices [...] -> corners [..., D]."""
        bits = (indices.unsqueeze(-1) // self.bit_values) % 2
        return (bits * 2 - 1).float() * self.scale

    @property
    def codebook(self) -> torch.Tensor:
        """Every code's vector [K, D], so the pages' atlas, usage and code maps serve."""
        return self.codes_from_indices(torch.arange(self.codebook_size, device=self.bit_values.device))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        return self.indices_from_codes(self.search_vectors(z.float()))

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codes_from_indices(indices)

    def entropy_loss(self, u: torch.Tensor) -> torch.Tensor:
        """E[H(q(c | u))] - gamma H(E[q(c | u)]) for vectors u [N, D], in nats (see the module docstring)."""
        logits = 4 * self.scale * u / TEMPERATURE
        per_sample = bit_entropy_of_logits(logits).sum(-1).mean()
        rows = logits[:: max(1, len(logits) * self.codebook_size // ENTROPY_CELLS)]
        bits = self.codebook > 0  # [K, D]: each code's bits
        log_q = F.logsigmoid(rows) @ bits.T.float() + F.logsigmoid(-rows) @ (~bits).T.float()  # [rows, K]
        mean_q = log_q.exp().mean(0).clamp_min(1e-12)  # held off 0, where p log p's gradient is infinite
        codebook = -(mean_q * mean_q.log()).sum()
        return per_sample - DIVERSITY * codebook

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        z = rearrange(z_e, "b d h w -> (b h w) d")
        with torch.autocast(device_type=z.device.type, enabled=False):
            u = self.search_vectors(z.float())
            q = self._corner(u.detach())
            commitment_loss = F.mse_loss(u, q)
            entropy = self.entropy_loss(u) if self.training else u.new_zeros(())
        indices = self.indices_from_codes(q)
        counts = counted_usage(indices, self.codebook_size, self.steps_unused, self.training)
        z_q = u + (q - u).detach()
        zero = z.new_zeros(())
        return quantizer_output(z_q.to(z.dtype), indices, z_e.shape, counts,
                                dead_codes=(self.steps_unused >= self.dead_code_window).sum(),
                                codebook_loss=zero, commitment_loss=commitment_loss,
                                loss=self.beta * commitment_loss + self.entropy_weight * entropy)
