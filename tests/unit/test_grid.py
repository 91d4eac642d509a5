"""Grids of pictures, and the start of a command that makes none."""

from __future__ import annotations

import subprocess
import sys

import torch

from conftest import REPO
from vqvae.grid import image_grid


def test_a_grid_lays_the_pictures_out_in_rows_on_white():
    pictures = torch.stack([torch.full((1, 4, 4), v) for v in (0.0, 0.25, 0.5)])
    grid = image_grid(pictures, nrow=2)
    assert grid.shape == (3, 1 + 2 * 5, 1 + 2 * 5)  # two rows of two cells, 1-pixel borders
    assert torch.all(grid[:, 0, :] == 1) and torch.all(grid[:, :, 0] == 1)  # white between the pictures
    assert torch.all(grid[:, 1:5, 6:10] == 0.25) and torch.all(grid[:, 6:10, 1:5] == 0.5)
    assert torch.all(grid[:, 6:10, 6:10] == 1)  # the empty fourth cell


def test_the_command_line_and_the_trainers_start_without_torchvision():
    """torchvision (and torch._dynamo with it) costs seconds of every process's start; only
    a grid, a download or a torchvision data set brings it in."""
    modules = ["vqvae.cli", "vqvae.training.vqvae_trainer", "vqvae.training.prior_trainer",
               "vqvae.models.sampling_film", "vqvae.dashboard.pictures"]
    code = f"import sys; [__import__(m) for m in {modules!r}]; print(sorted(m for m in sys.modules if m.startswith('torchvision')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
