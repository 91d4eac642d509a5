"""A walk in code space: from one picture to another through their encoder outputs.

The encoder outputs of the two pictures are mixed in even steps, each mixture is snapped
to its nearest codes and decoded, so every picture on the way is one the decoder can paint
from codes. Beside it, the plain pixel blend of the same two pictures shows what mixing in
pixel space gives (a double exposure), and the count of codes that change between
neighbouring steps shows where the walk jumps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE

MAX_STEPS = 64  # every step is decoded at once


@dataclass
class Walk:
    codes: torch.Tensor  # [S, h, w] int64, the first and last the two pictures' own codes (two levels: the bottom's)
    images: torch.Tensor  # [S, C, H, W] in [0, 1], the codes decoded
    blend: torch.Tensor  # [S, C, H, W] in [0, 1], the pixel blend at the same mixing weights
    changed: list[int]  # codes that differ between step s and step s + 1 (S - 1 numbers; of both levels)


@torch.no_grad()
def walk(model: VQVAE, start: torch.Tensor, end: torch.Tensor, steps: int = 10) -> Walk:
    """From `start` to `end` (float images [C, H, W] in [0, 1], the model's channels, the same
    size) in `steps` pictures, both ends included."""
    if not 2 <= steps <= MAX_STEPS:
        raise VQVAEError(f"a walk takes 2 to {MAX_STEPS} steps (both pictures included), not {steps}")
    if start.shape != end.shape:
        raise VQVAEError(f"the two pictures differ in size ({tuple(start.shape)} and {tuple(end.shape)}): "
                         "walk between pictures of one size")
    model.eval()
    device = model.codebook.device
    pair = torch.stack([start, end]).float().to(device)
    weights = torch.linspace(0, 1, steps, device=device).view(-1, 1, 1, 1)
    # (1 - w) a + w b is a itself at w = 0 and b itself at w = 1, so the ends are exact
    if model.config.levels == 2:  # both levels mixed, the bottom quantised given the mixed top codes
        top, codes = model.mixed_codes(pair, weights.flatten())
        images = model.decode_levels(top, codes)
        changed = ((top[1:] != top[:-1]).flatten(1).sum(1) + (codes[1:] != codes[:-1]).flatten(1).sum(1)).tolist()
    else:
        z_start, z_end = model.encode_continuous(pair)
        codes = model.nearest_codes((1 - weights) * z_start + weights * z_end)
        images = model.decode(codes)
        changed = (codes[1:] != codes[:-1]).flatten(1).sum(1).tolist()
    blend = (1 - weights) * pair[0] + weights * pair[1]
    return Walk(codes, images.cpu(), blend.cpu(), changed)
