"""Data sets the user keeps on disk: torchvision's copies (MNIST, Fashion-MNIST, CIFAR-10)
and folders of image files, each read once, up front, so no PIL runs in the training loop."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vqvae.data.image_data import ImageData, held_out_rows
from vqvae.data.image_file import eight_bit  # the uploads' 8-bit conversion, for folders of the same files
from vqvae.errors import VQVAEError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TORCHVISION_SETS = {"mnist": "MNIST", "fashion": "FashionMNIST", "cifar10": "CIFAR10"}


def default_data_root() -> Path:
    return Path(os.environ.get("VQVAE_DATA", "data"))


def holds_torchvision_set(root: Path, dataset: str) -> bool:
    return (root / TORCHVISION_SETS[dataset]).is_dir() or (root / "cifar-10-batches-py").is_dir()


def image_files(root: Path):
    return (p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) if root.is_dir() else iter(())


def torchvision_set(dataset: str, root: Path, download: bool,
                    fallback: Callable[[], ImageData] | None = None) -> ImageData:
    """Full train split for training and the official test split held out.

    When the set is not under root (and is not being downloaded), `fallback` gives the data
    instead (the loader passes the bundled MNIST split for mnist under the default root);
    without one, the message says where to put the files.
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_SETS[dataset])
    try:
        train, test = cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    except Exception:  # RuntimeError "not found", URLError when offline, ...
        if fallback is not None and not download:
            return fallback()
        reason = "could not be downloaded" if download else "was not found"
        raise VQVAEError(
            f"{cls.__name__} {reason} under {root}: place torchvision's {cls.__name__} files there, or download them "
            f"(the Train page's Download button, or `python -m vqvae download {dataset}`; needs a network)"
        ) from None

    def as_tensor(ds) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # CIFAR is stored NHWC
        return x.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)

    (xt, yt), (xv, yv) = as_tensor(train), as_tensor(test)
    return ImageData(f"{dataset} (torchvision)", xt, xv, yt, yv)


def image_folder(root: Path, channels: int, image_size: int, center_crop: int | None = None) -> ImageData:
    """Every readable image under root (recursively), center-cropped, resized, in memory.

    Unreadable files (not images, truncated, decompression bombs) are skipped and counted.
    """
    from PIL import Image, ImageOps

    if not root.is_dir():
        raise VQVAEError(f"the image folder {root} does not exist: name a folder of images")
    files = list(image_files(root))
    arrays, skipped = [], 0
    for path in files:
        try:
            with Image.open(path) as im:
                # 16-bit and palette files through eight_bit: a bare convert("L") clips 16-bit values white
                im = eight_bit(ImageOps.exif_transpose(im), []).convert("L" if channels == 1 else "RGB")
                # The central square (of center_crop pixels, else as large as fits), so
                # faces and sprites keep their shape through the resize.
                side = min(center_crop or min(im.size), *im.size)
                left, top = (im.width - side) // 2, (im.height - side) // 2
                im = im.crop((left, top, left + side, top + side))
                im = im.resize((image_size, image_size), Image.Resampling.LANCZOS)
                arrays.append(np.asarray(im, dtype=np.uint8).reshape(image_size, image_size, channels))
        except Exception:  # PIL raises many kinds for broken files; any of them means "skip"
            skipped += 1
    if len(arrays) < 2:
        raise VQVAEError(
            f"data folder {root} holds {len(arrays)} readable image(s) ({skipped} unreadable): "
            f"add at least 2 PNG/JPEG/WebP/BMP/GIF images"
        )
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    held_out = held_out_rows(len(images))
    if not held_out.any():
        held_out[-1] = True
    return ImageData(f"folder {root}", images[~held_out], images[held_out], skipped=skipped)
