"""The classic image codecs a learnt codec is weighed against: PNG (lossless), and JPEG and
WebP searched to the quality that reaches a given PSNR on the same picture (Pillow's
encoders).

Quality is a whole number, so the search brackets the target PSNR between two neighbouring
qualities and reads the size at the target off the straight line between them: the size
"at equal PSNR". Each format's size is also given without its headers (what a container
adds around the coded pixels), since a 28 x 28 picture is mostly header in any format.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vqvae.errors import VQVAEError

LOSSY = {"jpeg": "JPEG", "webp": "WEBP"}
QUALITIES = range(1, 101)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays of one shape (pixels in [0, 255] read as [0, 1])."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / 255**2
    return float("inf") if mse == 0 else float(10 * np.log10(1 / mse))


def as_pil(picture: torch.Tensor) -> Image.Image:
    """uint8 [C, H, W] (C 1 or 3) -> a Pillow image, L or RGB."""
    if picture.dim() != 3 or picture.shape[0] not in (1, 3) or picture.dtype != torch.uint8:
        raise VQVAEError(f"a picture is uint8 [1 or 3, H, W], not {picture.dtype} {list(picture.shape)}")
    array = picture.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)


def encode(picture: torch.Tensor, fmt: str, quality: int | None = None) -> bytes:
    """The file bytes of a picture uint8 [C, H, W] in `fmt` (png, jpeg, webp) at `quality`."""
    out = io.BytesIO()
    image = as_pil(picture)
    if fmt == "png":
        image.save(out, "PNG", optimize=True)
    elif fmt in LOSSY:
        image.save(out, LOSSY[fmt], quality=quality, **({"method": 6} if fmt == "webp" else {}))
    else:
        raise VQVAEError(f"unknown format {fmt!r}: png, jpeg or webp")
    return out.getvalue()


def decoded_psnr(picture: torch.Tensor, data: bytes) -> float:
    """The PSNR of a coded picture against the picture, read back in its own mode."""
    original = as_pil(picture)
    with Image.open(io.BytesIO(data)) as im:
        back = np.asarray(im.convert(original.mode))
    return psnr(np.asarray(original), back)


@dataclass
class AtPSNR:
    """A lossy format's size at a target PSNR on one picture."""

    fmt: str
    target: float  # dB
    bytes: float  # the size at the target, on the line between the two qualities that bracket it
    payload_bytes: float  # the same without the format's headers
    below: tuple[int, float, int] | None  # (quality, PSNR, bytes) just under the target
    above: tuple[int, float, int] | None  # (quality, PSNR, bytes) at or over it; None: no quality reaches it

    @property
    def reached(self) -> bool:
        return self.above is not None


def curve(picture: torch.Tensor, fmt: str, qualities=(5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)) -> list[dict]:
    """Rate-distortion points of a lossy format on a picture: [{quality, bytes, psnr}]."""
    points = []
    for quality in qualities:
        data = encode(picture, fmt, quality)
        points.append({"quality": quality, "bytes": len(data), "payload_bytes": payload_bytes(fmt, data),
                       "psnr": decoded_psnr(picture, data)})
    return points


def at_psnr(picture: torch.Tensor, fmt: str, target: float) -> AtPSNR:
    """The size of `fmt` at the target PSNR on the picture: the lowest quality that reaches
    it found by bisection (PSNR grows with quality), and the one below it."""
    cache: dict[int, tuple[int, float, int, int]] = {}

    def point(quality: int) -> tuple[int, float, int, int]:
        if quality not in cache:
            data = encode(picture, fmt, quality)
            cache[quality] = (quality, decoded_psnr(picture, data), len(data), payload_bytes(fmt, data))
        return cache[quality]

    low, high = QUALITIES[0], QUALITIES[-1]
    if point(high)[1] < target:
        q, p, size, payload = point(high)
        return AtPSNR(fmt, target, size, payload, (q, p, size), None)
    if point(low)[1] >= target:  # even the lowest quality is better: its size is an upper bound
        q, p, size, payload = point(low)
        return AtPSNR(fmt, target, size, payload, None, (q, p, size))
    while high - low > 1:  # point(low) under the target, point(high) at or over it
        middle = (low + high) // 2
        low, high = (middle, high) if point(middle)[1] < target else (low, middle)
    below, above = point(low), point(high)
    t = (target - below[1]) / (above[1] - below[1])
    return AtPSNR(fmt, target, below[2] + t * (above[2] - below[2]), below[3] + t * (above[3] - below[3]),
                  below[:3], above[:3])


def payload_bytes(fmt: str, data: bytes) -> int:
    """The bytes of a file that code the pixels, without the format's headers and markers:
    JPEG's entropy-coded scan (after the start-of-scan segment, before the end marker);
    WebP's VP8/VP8L bitstream without its frame header; PNG's IDAT data."""
    if fmt == "jpeg":
        sos = data.find(b"\xff\xda")
        if sos < 0:
            raise VQVAEError("not a JPEG with a scan")
        (length,) = struct.unpack(">H", data[sos + 2 : sos + 4])
        return len(data) - (sos + 2 + length) - 2  # the end-of-image marker is 2 bytes
    chunks = list(_chunks(data, fmt))
    if fmt == "webp":
        frame_header = {b"VP8 ": 10, b"VP8L": 5}
        return sum(len(body) - frame_header[name] for name, body in chunks if name in frame_header)
    return sum(len(body) for name, body in chunks if name == b"IDAT")


def _chunks(data: bytes, fmt: str):
    """(name, body) of each chunk of a RIFF (WebP) or PNG file."""
    if fmt == "webp":
        at, size_format, name_first = 12, "<I", True
    elif fmt == "png":
        at, size_format, name_first = 8, ">I", False
    else:
        raise VQVAEError(f"unknown format {fmt!r}: png, jpeg or webp")
    while at + 8 <= len(data):
        if name_first:
            name, (size,) = data[at : at + 4], struct.unpack(size_format, data[at + 4 : at + 8])
        else:
            (size,), name = struct.unpack(size_format, data[at : at + 4]), data[at + 4 : at + 8]
        yield name, data[at + 8 : at + 8 + size]
        at += 8 + size + (size % 2 if fmt == "webp" else 4)  # RIFF pads to even sizes; PNG has a CRC
