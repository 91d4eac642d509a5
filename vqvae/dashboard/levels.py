"""A two-level model's codes on the pages: what each level is, in words, and the pictures
each level's codes make alone (vqvae.models.two_level.TwoLevelVQVAE.decode_level_alone)."""

from __future__ import annotations

import torch

from vqvae.config import ModelConfig

LEVELS = ("bottom", "top")  # the bottom grid first: it is the one a one-level model has
NEUTRAL = ("with every vector of the other level set to the mean of its codebook (the same everywhere, so it "
           "places nothing)")


def level_title(c: ModelConfig, level: str) -> str:
    """"top (4 x 4 codes of K = 8, each over 2 x 2 bottom cells)"."""
    if level == "top":
        return f"top ({c.top_grid_size} x {c.top_grid_size} codes of K = {c.top_codes}, each over 2 x 2 bottom cells)"
    return f"bottom ({c.grid_size} x {c.grid_size} codes of K = {c.codebook_size})"


def levels_explained(c: ModelConfig) -> str:
    return (f"This model has two code grids (VQ-VAE-2): the **top** one, {c.top_grid_size} x {c.top_grid_size} codes "
            f"out of {c.top_codes}, sees the image at half the bottom's resolution; the **bottom** one, {c.grid_size} "
            f"x {c.grid_size} out of {c.codebook_size}, is quantised knowing the top codes, so it is left with what "
            f"the top misses. Each picture below is decoded from one level's codes, {NEUTRAL}.")


@torch.no_grad()
def each_level_alone(model, top: torch.Tensor, bottom: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """[(caption, pictures [N, C, H, W] on the CPU)] of the top codes alone, then the bottom codes alone."""
    return [(f"the {level} codes alone", model.decode_level_alone(top, bottom, level).cpu()) for level in ("top", "bottom")]


@torch.no_grad()
def decoded_with(model, grids: dict[str, torch.Tensor], level: str, row: int, column: int, code: int) -> torch.Tensor:
    """The picture [1, C, H, W] decoded from both grids ({"top": [h', w'], "bottom": [h, w]})
    with `code` put at (row, column) of `level`'s."""
    trial = {name: codes.clone() for name, codes in grids.items()}
    trial[level][row, column] = code
    return model.decode_levels(trial["top"][None], trial["bottom"][None]).cpu()
