"""The data sets by name: the bundled ones, what each is called and what its classes are,
`load_data` fitting any of them to a model, and what happens to a batch on its way in.

The official MNIST test split ships inside the package (vqvae/assets/mnist), so the
default works offline: its 10,000 images are split deterministically into 9,000 train
and 1,000 held-out images (every tenth image is held out). So do the second tutorial's
800 Pokémon artworks (vqvae/assets/pokemon), 640 train and 160 held-out. Full MNIST,
Fashion-MNIST, CIFAR-10 and image folders come from the user's disk (vqvae.data.local_sets).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqvae.data.image_data import ImageData, held_out_rows
from vqvae.data.local_sets import (
    TORCHVISION_SETS,
    default_data_root,
    holds_torchvision_set,
    image_files,
    image_folder,
    torchvision_set,
)
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
    held_out = held_out_rows(len(images))
    return ImageData("mnist (bundled 10k split)", images[~held_out], images[held_out], labels[~held_out], labels[held_out])


def bundled_pokemon() -> ImageData:
    """The vendored Pokémon artwork: 640 train / 160 held-out RGB 64 x 64 pictures (every
    fifth held out, so every type is on both sides), labelled by primary type (18)."""
    if not POKEMON.exists() or hashlib.sha256(POKEMON.read_bytes()).hexdigest() != POKEMON_SHA256:
        raise VQVAEError(f"bundled Pokémon file {POKEMON} is missing or altered: restore it from git "
                         f"(git checkout -- {POKEMON})")
    with np.load(POKEMON, allow_pickle=False) as saved:  # plain arrays only: nothing is unpickled
        images, labels = torch.from_numpy(saved["images"]), torch.from_numpy(saved["labels"])
    held_out = held_out_rows(len(images), POKEMON_HOLDOUT_EVERY)
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
        if root and not holds_torchvision_set(Path(root), dataset) and any(image_files(Path(root))):
            data = image_folder(Path(root), channels, image_size, center_crop)  # --data pointed at plain images
        else:
            # Full MNIST missing from the default root: the bundled split (never when a root was
            # named: then the user meant that data).
            fallback = bundled_mnist if dataset == "mnist" and root is None else None
            data = torchvision_set(dataset, Path(root) if root else default_data_root(), download, fallback)
    else:
        raise VQVAEError(f"unknown data set {dataset!r}: choose one of folder, pokemon, {', '.join(TORCHVISION_SETS)}")
    return ImageData(data.name, fit_images(data.train, channels, image_size), fit_images(data.val, channels, image_size),
                     data.train_labels, data.val_labels, data.skipped)


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
