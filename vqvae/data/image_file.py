"""Reading an uploaded file: its bytes decoded into an upright 8-bit Pillow picture.

What a person uploads may be a PNG, JPEG, WebP, BMP, GIF or TIFF in any of Pillow's modes.
What cannot honestly be used is refused with a VQVAEError that says what to do: not an
image, a truncated or corrupt file, a picture too large to decode safely (judged from the
header, before any pixel is decoded) or too small. No Pillow exception escapes.
(vqvae.data.uploads then fits the picture to a model.)
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from vqvae.errors import VQVAEError

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # Pillow's names; nothing else is even identified
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff")  # file extensions, for the uploader
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, GIF or TIFF"
# Decoding costs memory in proportion to the pixel count, whatever the file size: a 10 KB PNG
# can declare 100 megapixels. 40 MP holds any phone or camera photo up to 7,700 x 5,200.
MAX_PIXELS = 40_000_000
MIN_SIDE = 8  # below this a picture holds too little to scale up into a digit

_decoding = threading.Lock()


@dataclass(frozen=True)
class StoredFile:
    """What an uploaded file is, as stored (before any EXIF rotation)."""
    width: int
    height: int
    mode: str  # Pillow's mode of the file: "RGB", "P", "I;16", ...
    format: str  # Pillow's format name: "PNG", "JPEG", ...


def _too_large(width: int, height: int) -> VQVAEError:
    return VQVAEError(f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), over the "
                      f"{MAX_PIXELS / 1e6:.0f}-megapixel limit: upload a smaller picture (it is scaled down anyway)")


def _bomb(over_pixels: int) -> VQVAEError:
    """Pillow refused the header before its size could be read: only a lower bound is known."""
    return VQVAEError(f"the image is over {over_pixels / 1e6:.0f} megapixels, more than the {MAX_PIXELS / 1e6:.0f}-"
                      f"megapixel limit: upload a smaller picture (it is scaled down anyway)")


def _corrupt(format_name: str | None) -> VQVAEError:
    return VQVAEError(f"the {format_name or 'image'} file is truncated or corrupt: save it again, or upload another file")


@contextmanager
def _truncated_files_refused():
    """Pillow silently paints the missing part of a truncated file grey when the process-wide
    ImageFile.LOAD_TRUNCATED_IMAGES is set, and any imported library may set it. Hold it off
    while an upload decodes (under a lock: Streamlit sessions are threads), then restore it."""
    with _decoding:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved


def decode(data: bytes, working_side: int, min_side: int, notes: list[str]) -> tuple[Image.Image, StoredFile]:
    """The file's first frame, fully decoded (a JPEG at a reduced scale when it is much larger
    than working_side), and what the file is as stored."""
    if not data:
        raise VQVAEError(f"the file is empty: upload a {FORMAT_NAMES} image")
    format_name = None
    with _truncated_files_refused(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what Pillow says about a damaged file: the user gets one line instead
        # Pillow warns between MAX_IMAGE_PIXELS and twice that, and only raises above: a warning
        # would let the decode go on, so it is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
            format_name = im.format
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise _too_large(width, height)
            if min(width, height) < min_side:
                raise VQVAEError(f"the image is only {width} x {height} pixels: upload one at least "
                                 f"{min_side} x {min_side} (ideally as large as the model's input or larger)")
            stored = StoredFile(width, height, im.mode, im.format)
            frames = getattr(im, "n_frames", 1)  # counted from the frame headers, nothing decoded
            if frames > 1:
                im.seek(0)
                kind = "an animated" if im.format in ("GIF", "WEBP", "PNG") else "a multi-page"
                notes.append(f"first frame of {kind} {im.format} ({frames} frames)")
            if im.format in ("JPEG", "MPO") and max(width, height) > 2 * working_side:
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale for almost nothing, keeping at
                # least the size asked: a 12-megapixel photo decodes in milliseconds.
                scale = working_side / max(width, height)
                im.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            im.load()  # the full decode: truncated or corrupt data fails here, not later
        except VQVAEError:
            raise
        except Image.DecompressionBombWarning:  # over Image.MAX_IMAGE_PIXELS
            raise _bomb(Image.MAX_IMAGE_PIXELS) from None
        except Image.DecompressionBombError:  # over twice that
            raise _bomb(2 * Image.MAX_IMAGE_PIXELS) from None
        except Image.UnidentifiedImageError:
            raise VQVAEError(f"this file is not a {FORMAT_NAMES} image: upload a picture in one of these formats") from None
        except Exception:  # Pillow raises OSError, SyntaxError, ValueError, struct.error... for broken files
            raise _corrupt(format_name) from None
    return im, stored


def turned_upright(im: Image.Image, notes: list[str]) -> Image.Image:
    """Turned as the EXIF orientation tag says (phones store photos sideways and set the tag)."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
        if orientation in range(2, 9):
            im = ImageOps.exif_transpose(im)
            notes.append("turned upright as its EXIF orientation tag says")
    except Exception:  # a malformed EXIF block should not cost a readable picture
        notes.append("its EXIF orientation tag is unreadable: used as stored")
    return im


def eight_bit(im: Image.Image, notes: list[str]) -> Image.Image:
    """Any of Pillow's modes -> L, LA, RGB or RGBA with 8 bits a channel."""
    try:
        mode = im.mode
        if mode in ("L", "LA", "RGB", "RGBA"):
            return im
        if mode == "1":
            notes.append("black-and-white (1-bit) image read as grayscale")
            return im.convert("L")
        if mode in ("P", "PA"):  # palette expansion loses nothing
            return im.convert("RGBA" if im.has_transparency_data else "RGB")
        if mode.startswith("I") or mode == "F":
            return _scaled_to_8_bits(im, notes)
        if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            notes.append(f"{mode} colours converted to RGB")
            return im.convert("RGB")
        return im.convert("RGBA" if "A" in im.getbands() else "RGB")  # La, RGBa, RGBX, ...
    except Exception:  # a decoded picture whose pixels cannot be converted is as good as corrupt
        raise _corrupt(im.format) from None


def _scaled_to_8_bits(im: Image.Image, notes: list[str]) -> Image.Image:
    """16- and 32-bit integer or float gray -> L. Pillow's convert("L") clips 16-bit values
    at 255 (turning a 16-bit picture white), so the scaling is done here."""
    values = np.asarray(im)
    if values.dtype.kind in "ui" and values.min() >= 0 and values.max() <= 65535:
        scaled = values.astype(np.float32) * (255 / 65535)
        notes.append("16-bit image scaled to 8 bits")
    else:  # 32-bit integers and floats have no fixed range: stretch what is there
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
        scaled = (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)
        notes.append(f"{im.mode} image stretched from its range {low:g}..{high:g} to 8 bits")
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), "L")
