"""Data sets as in-memory uint8 tensors [N, C, H, W], split into train and held-out.

The official MNIST test split ships inside the package (vqvae/assets/mnist), so the
default works offline: its 10,000 images are split deterministically into 9,000 train
and 1,000 held-out images (every tenth image is held out). So do the second tutorial's
800 Pokémon artworks (vqvae/assets/pokemon), 640 train and 160 held-out. Full MNIST, Fashion-MNIST and
CIFAR-10 come through torchvision when present locally (or downloadable with download=True);
an image folder is read once, up front, so no PIL runs in the training loop.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqvae.data.uploads import eight_bit  # the uploads' 8-bit conversion, for folders of the same files
from vqvae.errors import VQVAEError

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "mnist"
# The second tutorial's 800 Pokémon artworks, padded square and stored at 64 x 64 with
# their primary type as the label (made by scripts/vendor_pokemon.py; see its SOURCE.md).
POKEMON = Path(__file__).resolve().parents[1] / "assets" / "pokemon" / "pokemon-64.npz"
POKEMON_SHA256 = "17e1882977b250c9a60cdbdd7bdabd23dd609d2419249658b577ed37ec56a756"
POKEMON_HOLDOUT_EVERY = 5  # 640 train / 160 held-out, the tutorial's 80/20
# MD5 sums of the official files (the same ones torchvision checks).
MNIST_TEST_FILES = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
DATASET_TITLES = {"mnist": "MNIST", "pokemon": "Pokémon", "fashion": "Fashion-MNIST", "cifar10": "CIFAR-10",
                  "folder": "image folder"}
# What a model card must say about a data set's pictures (the Pokémon one: from its SOURCE.md).
DATASET_NOTES = {
    "pokemon": "Trained on the second tutorial's 800 Pokémon artworks (official artwork collected by the public "
               "repository dalelane/pokemon-images-dataset). The artwork belongs to its owners (Nintendo / Game Freak "
               "/ The Pokémon Company); it is used here for training and testing an educational model, as the "
               "tutorial does.",
}
# CIFAR-10's names; torchvision reads them from the downloaded files' metadata.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
HOLDOUT_EVERY = 10  # every tenth image is held out


@dataclass
class ImageData:
    name: str
    train: torch.Tensor  # uint8 [N, C, H, W]
    val: torch.Tensor  # uint8 [M, C, H, W], never trained on
    train_labels: torch.Tensor | None = None  # int64 [N]
    val_labels: torch.Tensor | None = None
    skipped: int = 0  # unreadable files left out of an image folder

    def variance(self) -> float:
        """Pixel variance of the training images in [0, 1] (to normalise the MSE, tutorial-style),
        summed in chunks so a large set is never copied to float whole."""
        total, total_sq, n = 0.0, 0.0, self.train.numel()
        for chunk in self.train.split(1024):
            x = chunk.double() / 255
            total += float(x.sum())
            total_sq += float(x.pow(2).sum())
        mean = total / n
        return total_sq / n - mean * mean


def default_data_root() -> Path:
    return Path(os.environ.get("VQVAE_DATA", "data"))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a uint8 array: [N, rows, cols] for images, [N] for labels."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def bundled_mnist() -> ImageData:
    """The vendored official MNIST test split: 9,000 train / 1,000 held-out images."""
    for name, md5 in MNIST_TEST_FILES.items():
        path = ASSETS / name
        if not path.exists() or hashlib.md5(path.read_bytes()).hexdigest() != md5:
            raise VQVAEError(f"bundled MNIST file {path} is missing or altered: restore it from git (git checkout -- {path})")
    images = torch.from_numpy(read_idx(ASSETS / "t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(ASSETS / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    held_out = torch.arange(len(images)) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    return ImageData("mnist (bundled 10k split)", images[~held_out], images[held_out], labels[~held_out], labels[held_out])


def bundled_pokemon() -> ImageData:
    """The vendored Pokémon artwork: 640 train / 160 held-out RGB 64 x 64 pictures (every
    fifth held out, so every type is on both sides), labelled by primary type (18)."""
    if not POKEMON.exists() or hashlib.sha256(POKEMON.read_bytes()).hexdigest() != POKEMON_SHA256:
        raise VQVAEError(f"bundled Pokémon file {POKEMON} is missing or altered: restore it from git "
                         f"(git checkout -- {POKEMON})")
    with np.load(POKEMON, allow_pickle=False) as saved:  # plain arrays only: nothing is unpickled
        images, labels = torch.from_numpy(saved["images"]), torch.from_numpy(saved["labels"])
    held_out = torch.arange(len(images)) % POKEMON_HOLDOUT_EVERY == POKEMON_HOLDOUT_EVERY - 1
    return ImageData("pokemon (bundled 800 artworks)", images[~held_out], images[held_out], labels[~held_out],
                     labels[held_out])


BUNDLED_SETS = {"mnist": bundled_mnist, "pokemon": bundled_pokemon}


def bundled_data(dataset: str) -> ImageData:
    """The bundled split of a data set (what the classifier trains and is checked on, whatever
    fuller copy of the set may be present)."""
    if dataset not in BUNDLED_SETS:
        raise VQVAEError(f"no bundled copy of {dataset!r}: the bundled data sets are {', '.join(BUNDLED_SETS)}")
    return BUNDLED_SETS[dataset]()


def pokemon_types() -> list[str]:
    """The 18 primary types, in label order."""
    try:
        with np.load(POKEMON, allow_pickle=False) as saved:
            return [str(t) for t in saved["types"]]
    except (OSError, KeyError, ValueError):
        raise VQVAEError(f"bundled Pokémon file {POKEMON} is missing or altered: restore it from git "
                         f"(git checkout -- {POKEMON})") from None


def class_kind(dataset: str | None) -> str:
    """What a data set's classes are called, in words: "digit", "type", else "class"."""
    return {"mnist": "digit", "pokemon": "type"}.get(dataset or "", "class")


def class_names(dataset: str | None) -> list[str] | None:
    """What each label of a data set means (label i -> its name), or None for one without labels."""
    if dataset == "mnist":
        return [str(digit) for digit in range(10)]
    if dataset == "pokemon":
        return [name.capitalize() for name in pokemon_types()]  # "Fire", as the games write the types
    if dataset == "fashion":
        import torchvision.datasets as tvd

        return list(tvd.FashionMNIST.classes)
    if dataset == "cifar10":
        return list(CIFAR10_CLASSES)
    return None


def load_data(dataset: str, channels: int, image_size: int, root: str | None = None,
              center_crop: int | None = None, download: bool = False) -> ImageData:
    """The named data set, fitted to the model's channels and image size."""
    if dataset == "folder":
        if not root:
            raise VQVAEError("the image-folder data set needs a folder of images (searched recursively): name one in "
                             "the Train page's Image folder box, or with --data PATH")
        data = image_folder(Path(root), channels, image_size, center_crop)
    elif dataset == "pokemon":  # --data: the user's own copy of the pictures, as an image folder
        data = image_folder(Path(root), channels, image_size, center_crop) if root else bundled_pokemon()
    elif dataset in TORCHVISION_SETS:
        if root and not _holds_torchvision_set(Path(root), dataset) and any(_image_files(Path(root))):
            data = image_folder(Path(root), channels, image_size, center_crop)  # --data pointed at plain images
        else:
            data = torchvision_set(dataset, Path(root) if root else default_data_root(), download, fallback=root is None)
    else:
        raise VQVAEError(f"unknown data set {dataset!r}: choose one of folder, pokemon, {', '.join(TORCHVISION_SETS)}")
    return ImageData(data.name, fit_images(data.train, channels, image_size), fit_images(data.val, channels, image_size),
                     data.train_labels, data.val_labels, data.skipped)


TORCHVISION_SETS = {"mnist": "MNIST", "fashion": "FashionMNIST", "cifar10": "CIFAR10"}


def _holds_torchvision_set(root: Path, dataset: str) -> bool:
    return (root / TORCHVISION_SETS[dataset]).is_dir() or (root / "cifar-10-batches-py").is_dir()


def _image_files(root: Path):
    return (p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) if root.is_dir() else iter(())


def torchvision_set(dataset: str, root: Path, download: bool, fallback: bool = True) -> ImageData:
    """Full train split for training and the official test split held out.

    MNIST falls back to the bundled split when the full set is not under the default
    root (never when a root was named: then the user meant that data); the others say
    where to put their files.
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_SETS[dataset])
    try:
        train, test = cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    except Exception:  # RuntimeError "not found", URLError when offline, ...
        if dataset == "mnist" and fallback and not download:
            return bundled_mnist()
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
    files = list(_image_files(root))
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
    held_out = torch.arange(len(images)) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    if not held_out.any():
        held_out[-1] = True
    return ImageData(f"folder {root}", images[~held_out], images[held_out], skipped=skipped)


def fit_images(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, channels, size, size]: colour <-> gray, then resize."""
    if images.shape[1] != channels:
        if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            images = images.expand(-1, 3, -1, -1).contiguous()
    if images.shape[-1] != size or images.shape[-2] != size:
        out = []
        for chunk in images.split(1024):
            resized = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out.append(resized.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(out)
    return images


def augment(images: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """uint8 images [B, C, H, W] -> the same, each flipped left-right with probability 1/2
    and moved by up to max_shift pixels each way (edges repeated): for a small training set
    such as the 640 Pokémon. The draws come from `generator` (on the CPU), so a run that is
    resumed sees the same batches."""
    n, h, w = len(images), *images.shape[-2:]
    flips = (torch.rand(n, generator=generator) < 0.5).to(images.device, non_blocking=True)
    moves = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).to(images.device, non_blocking=True)
    out = torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)
    if max_shift == 0:
        return out
    # All images at once, where the images are (no per-image work, no wait for the GPU):
    # pad every side by max_shift with the edge pixels (as shift_images does), then read
    # each image's window at its own offset.
    s = max_shift
    padded = F.pad(out.float(), (s, s, s, s), mode="replicate")
    rows = (torch.arange(h, device=images.device) + s - moves[:, :1])[:, :, None]  # [N, h, 1]
    cols = (torch.arange(w, device=images.device) + s - moves[:, 1:])[:, None, :]  # [N, 1, w]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous().to(images.dtype)  # [N, h, w, C] -> [N, C, h, w]


def shift_images(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """uint8 images [N, C, H, W] moved dy pixels down and dx right; the edge pixels fill
    the gap (black for MNIST's background), so nothing wraps around."""
    if dy == 0 and dx == 0:
        return images
    s = max(abs(dy), abs(dx))
    h, w = images.shape[-2:]
    padded = F.pad(images.float(), (s, s, s, s), mode="replicate")
    return padded[..., s - dy : s - dy + h, s - dx : s - dx + w].to(images.dtype)


def to_float(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 batch -> float32 in [0, 1] on the device (the cast happens after the copy: 4x less to move)."""
    return batch.to(device, non_blocking=True).float().div_(255)
