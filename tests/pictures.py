"""Picture files the tests make: encoded in any format, random noise, and every kind of bad
file an upload may be (with the words its refusal must hold)."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
from PIL import Image


def encoded(im: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def black_1bit_png(width: int, height: int, with_pixels: bool = True) -> bytes:
    """A valid 1-bit PNG written row by row (a 10000 x 10000 one is 12 KB, made in milliseconds,
    where Pillow would first allocate 100 MB); without pixels it is a header alone."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    body = b""
    if with_pixels:
        stream, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)  # filter byte + packed bits
        body = png_chunk(b"IDAT", b"".join(stream.compress(row) for _ in range(height)) + stream.flush())
    return b"\x89PNG\r\n\x1a\n" + header + body + png_chunk(b"IEND", b"")


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels)


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """A JPEG whose Huffman table is zeroed: Pillow reads the header, the decode then fails."""
    data = encoded(noise(64, 64), "JPEG")
    table = data.index(b"\xff\xc4") + 5
    return data[:table] + bytes(30) + data[table + 30:]


BAD_FILES = {
    "empty file": (lambda: b"", "empty"),
    "text file": (lambda: b"just some notes, not a picture\n" * 20, "not a PNG, JPEG"),
    "random bytes": (lambda: bytes(random.Random(0).randrange(256) for _ in range(4096)), "not a PNG, JPEG"),
    "a format not accepted (ICO)": (lambda: encoded(noise(32, 32), "ICO"), "not a PNG, JPEG"),
    "truncated PNG": (lambda: first_half(encoded(noise(64, 64), "PNG")), "truncated or corrupt"),
    "truncated JPEG": (lambda: first_half(encoded(noise(64, 64), "JPEG")), "truncated or corrupt"),
    "corrupt JPEG": (corrupt_jpeg, "truncated or corrupt"),
    "decompression bomb header": (lambda: black_1bit_png(50_000, 50_000, with_pixels=False), "megapixels"),
    "over the limit (49 MP)": (lambda: black_1bit_png(7_000, 7_000, with_pixels=False), "49 megapixels"),
    "10000 x 10000 PNG": (lambda: black_1bit_png(10_000, 10_000), "megapixels"),
    "1 x 1 pixel": (lambda: encoded(Image.new("L", (1, 1)), "PNG"), "at least 8 x 8"),
    "3 x 200 strip": (lambda: encoded(Image.new("L", (3, 200)), "PNG"), "at least 8 x 8"),
}
