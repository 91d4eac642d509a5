"""Files written whole and read with suspicion: every write goes to a temp file that is
renamed into place (a reader never sees half a file, a kill never leaves one), and every
read expects damage (a missing, cut or hand-edited file is None, not a traceback). In a
distributed run only rank 0 writes."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import torch

from vqvae.distributed import is_writer


def atomic_write_bytes(path: Path, data: bytes) -> None:
    if not is_writer():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a dashboard under another user must read it
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode())


def atomic_write_png(path: Path, image: torch.Tensor) -> None:
    """A float image [C, H, W] in [0, 1] (C = 1 or 3) as a PNG."""
    from PIL import Image

    pixels = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> dict | None:
    """A file holding one JSON object, or None when it is missing, unreadable, damaged or
    holds anything else (a run folder may have been damaged by hand)."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):  # ValueError: bad JSON and bad bytes alike
        return None
    return data if isinstance(data, dict) else None


def is_number(value) -> bool:
    """An int or float read back from JSON (not a bool, which JSON readers also give)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_png(path: Path) -> bytes | None:
    """A PNG file's bytes when it is a whole, readable PNG (a preview may be damaged), else None."""
    from PIL import Image

    try:
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                return None
            image.load()  # decodes every pixel: a truncated file fails here
    except Exception:  # PIL raises many kinds (OSError, SyntaxError, ValueError, DecompressionBombError...)
        return None
    return data


def fsync_dir(folder: Path) -> None:
    """Make renames inside folder durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
