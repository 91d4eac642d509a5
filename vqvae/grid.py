"""A batch of pictures as one grid picture: torchvision's make_grid, imported on first use.

Importing torchvision loads its models and ops, and with them torch._dynamo: about 2.5 s of
a process's start on a 2-core CPU. Imported here only when a grid is made, a command that
makes none (eval, a refused setting, a background run before its first preview) starts
that much sooner."""

from __future__ import annotations

import torch


def image_grid(images: torch.Tensor, nrow: int, padding: int = 1) -> torch.Tensor:
    """Pictures [N, C, H, W] in [0, 1] as one [C, H', W'] grid of `nrow` columns, on white."""
    from torchvision.utils import make_grid

    return make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)
