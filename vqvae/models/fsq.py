"""Finite scalar quantisation (Mentzer et al. 2023): codes on a fixed grid, nothing to learn."""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from vqvae.models.quantizer_output import QuantizerOutput, counted_usage, quantizer_output


class FSQuantizer(nn.Module):
    """Each of the D = len(levels) numbers is bounded with tanh to L_i values and rounded,
    straight through; the codes are the grid of prod(levels) points, with no codebook to
    learn, no loss and nothing to restart.

    bound(z) = tanh(z + tan(offset / h)) * h - offset, h = (L - 1)(1 - eps) / 2, offset
    1/2 for an even L (so the L integers it rounds to are -L/2 .. L/2 - 1), 0 for an odd one;
    z_q = round(bound(z)) / (L // 2), as in the paper's code (its appendix A.1). A code's
    index reads its digits round(bound(z)) + L // 2 in the mixed radix of the levels, first
    dimension lowest.
    """

    EPS = 1e-3

    def __init__(self, levels: tuple[int, ...], dead_code_window: int = 100):
        super().__init__()
        self.levels_list = tuple(int(level) for level in levels)
        self.codebook_size = math.prod(self.levels_list)
        self.code_dim = len(self.levels_list)
        self.dead_code_window = dead_code_window
        levels = torch.tensor(self.levels_list, dtype=torch.long)
        self.register_buffer("levels", levels, persistent=False)
        self.register_buffer("basis", torch.cumprod(torch.cat([levels.new_ones(1), levels[:-1]]), 0), persistent=False)
        self.register_buffer("steps_unused", torch.zeros(self.codebook_size, dtype=torch.long))

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        levels = self.levels.to(z.dtype)
        half = (levels - 1) * (1 - self.EPS) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        return torch.tanh(z + torch.tan(offset / half)) * half - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """z [N, D] -> the nearest grid point, normalised to [-1, 1], straight through."""
        bounded = self.bound(z)
        rounded = bounded + (bounded.round() - bounded).detach()
        return rounded / (self.levels // 2).to(z.dtype)

    def indices_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Grid points [N, D] (normalised) -> indices [N]."""
        digits = (codes * (self.levels // 2)).round().long() + self.levels // 2
        return (digits * self.basis).sum(-1)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices [...] -> grid points [..., D], normalised."""
        digits = (indices.unsqueeze(-1) // self.basis) % self.levels
        return (digits - self.levels // 2).float() / (self.levels // 2).float()

    @property
    def codebook(self) -> torch.Tensor:
        """Every code's vector [K, D]: the grid, so the pages' atlas, usage and code maps serve."""
        return self.codes_from_indices(torch.arange(self.codebook_size, device=self.levels.device))

    def search_vectors(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder outputs [N, D] -> bounded and scaled like the codes, before the rounding."""
        return self.bound(z.float()) / (self.levels // 2)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.indices_from_codes(self.quantize(z.detach().float()))

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codes_from_indices(indices)

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        z = rearrange(z_e, "b d h w -> (b h w) d")
        with torch.autocast(device_type=z.device.type, enabled=False):
            z_q = self.quantize(z.float())
        indices = self.indices_from_codes(z_q.detach())
        counts = counted_usage(indices, self.codebook_size, self.steps_unused, self.training)
        zero = z.new_zeros(())
        return quantizer_output(z_q.to(z.dtype), indices, z_e.shape, counts,
                                dead_codes=(self.steps_unused >= self.dead_code_window).sum(),
                                codebook_loss=zero, commitment_loss=zero, loss=zero)
