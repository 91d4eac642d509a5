"""A drawing from the dashboard's canvas as a picture file: the canvas's RGBA pixels put on
white and scaled to the model's training size, so a digit drawn across the canvas is read
as MNIST's digits are (a stroke a few pixels wide in a 28-pixel square), not as a giant
one, and handed over as PNG bytes, as an upload is."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vqvae.errors import VQVAEError

BACKGROUND = (255, 255, 255)


def has_strokes(rgba: np.ndarray | None) -> bool:
    """Whether anything is drawn: a pixel that is not transparent."""
    return rgba is not None and rgba.ndim == 3 and rgba.shape[-1] == 4 and bool((rgba[..., 3] > 0).any())


def canvas_png(rgba: np.ndarray, size: int) -> bytes:
    """Canvas pixels [H, W, 4] (uint8, or floats 0..255) -> a size x size RGB PNG of the
    strokes on white."""
    if rgba.ndim != 3 or rgba.shape[-1] != 4:
        raise VQVAEError(f"a canvas drawing is [H, W, 4] RGBA pixels, not {list(rgba.shape)}")
    layer = Image.fromarray(np.clip(rgba, 0, 255).astype(np.uint8), "RGBA")
    picture = Image.new("RGB", layer.size, BACKGROUND)
    picture.paste(layer, mask=layer.getchannel("A"))
    buffer = io.BytesIO()
    picture.resize((size, size), Image.Resampling.LANCZOS).save(buffer, "PNG")
    return buffer.getvalue()
