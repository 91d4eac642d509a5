"""Tensors as pictures for a page: a batch as one grid (enlarged by whole pixels, so the
browser does not blur it), as an array for st.image or as PNG bytes for a download."""

import io

import torch
from PIL import Image

from vqvae.dashboard.codebook_view import enlarge
from vqvae.grid import image_grid


def picture(images: torch.Tensor, nrow: int = 8, pixels: int | None = None):
    """A batch [N, C, H, W] in [0, 1] as one HWC numpy grid for st.image; with `pixels`, each
    image is first enlarged by whole pixels to about that size, so the browser does not blur it."""
    images = images.detach().float().cpu()
    if pixels:
        images = enlarge(images, pixels)
    grid = image_grid(images.clamp(0, 1), nrow=nrow, padding=2)
    return grid.permute(1, 2, 0).numpy()


def png_bytes(images: torch.Tensor, nrow: int = 8) -> bytes:
    """A batch [N, C, H, W] in [0, 1] as one PNG grid."""
    pixels = (picture(images, nrow) * 255).round().astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
