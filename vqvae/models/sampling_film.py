"""The sampling as an animated GIF to take away: the grid of samples filling in, a frame a
row of codes (for two levels, the top grid's rows, then the bottom's), the positions not
drawn yet in grey, the finished grid held at the end."""

from __future__ import annotations

import io

import torch
from PIL import Image

from vqvae.grid import image_grid
from vqvae.models.sampling import Progress, decode_progress

GREY = 0.5
FRAME_MS, LAST_FRAME_MS = 120, 2000
TILE_PIXELS = 56  # each sample enlarged by whole pixels to at least this (a 28-px digit twice)


@torch.no_grad()
def frame_of(vqvae, progress: Progress, nrow: int) -> torch.Tensor:
    """The grid picture [C, H, W] in [0, 1] of the samples as the codes stand, undrawn cells grey."""
    pictures = decode_progress(vqvae, progress).float().cpu()
    h, w = progress.codes.shape[-2:]
    if progress.grid_done < h * w:
        cell = vqvae.config.downsample * (2 if progress.level == "top" else 1)
        undrawn = (torch.arange(h * w) >= progress.grid_done).view(h, w)
        undrawn = undrawn.repeat_interleave(cell, 0).repeat_interleave(cell, 1)[: pictures.shape[-2], : pictures.shape[-1]]
        pictures = torch.where(undrawn, torch.tensor(GREY), pictures)
    factor = max(1, -(-TILE_PIXELS // max(pictures.shape[-2:])))
    pictures = pictures.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    return image_grid(pictures, nrow=nrow)


class SamplingFilm:
    """Frames of a sampling, kept as it streams; `gif()` the animation."""

    def __init__(self, vqvae, nrow: int):
        self.vqvae, self.nrow = vqvae, nrow
        self.frames: list[torch.Tensor] = []

    def add(self, progress: Progress) -> None:
        self.frames.append(frame_of(self.vqvae, progress, self.nrow))

    def add_at_row_ends(self, progress: Progress) -> None:
        """A frame when a row of codes is finished (the page's and the CLI's one call per step)."""
        if progress.grid_done % progress.codes.shape[-1] == 0:
            self.add(progress)

    def gif(self) -> bytes:
        """The frames as a looping animated GIF, the last one held."""
        if not self.frames:
            raise ValueError("no frames: add the sampling's progress first")
        images = [Image.fromarray(f.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).squeeze(-1).numpy())
                  for f in self.frames]
        buffer = io.BytesIO()
        durations = [FRAME_MS] * (len(images) - 1) + [LAST_FRAME_MS]
        images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
        return buffer.getvalue()
