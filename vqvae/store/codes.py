"""A prior run's code cache (RUN/codes.safetensors): a data set as the code grids of one
VQ-VAE, both splits with their labels, encoded once. It is only a copy of what the frozen
VQ-VAE makes of the data: a damaged or unfitting cache is dropped and the data encoded again."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from vqvae import files
from vqvae.config import PriorConfig
from vqvae.errors import VQVAEError

GRIDS = ("train", "val", "train_top", "val_top")


@dataclass
class CodeData:
    """A data set as code grids of one VQ-VAE."""

    name: str
    train: torch.Tensor  # int64 [copies * N, h, w]: the N training images, then shifted copies
    val: torch.Tensor  # int64 [M, h, w]
    train_labels: torch.Tensor | None = None  # int64 [copies * N]
    val_labels: torch.Tensor | None = None
    copies: int = 1
    train_top: torch.Tensor | None = None  # two levels: the top grids [copies * N, h', w'] of the same images
    val_top: torch.Tensor | None = None  # [M, h', w']

    @property
    def unshifted_train(self) -> torch.Tensor:
        return self.train[: len(self.train) // self.copies]

    @property
    def n_classes(self) -> int:
        return int(self.train_labels.max()) + 1 if self.train_labels is not None else 0


def save_codes(path: Path, codes: CodeData) -> None:
    tensors = {"train": codes.train, "val": codes.val}
    if codes.train_labels is not None and codes.val_labels is not None:
        tensors.update(train_labels=codes.train_labels, val_labels=codes.val_labels)
    if codes.train_top is not None and codes.val_top is not None:
        tensors.update(train_top=codes.train_top, val_top=codes.val_top)
    # int16 codes: a quarter of the disk; the cache of 81,000 shifted MNIST grids is 8 MB
    tensors = {k: (v.to(torch.int16) if k in GRIDS else v).contiguous() for k, v in tensors.items()}
    files.atomic_write_bytes(path, save(tensors, metadata={"data": codes.name, "copies": str(codes.copies)}))


def load_codes(path: Path) -> CodeData:
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        t = load_file(str(path))
        top = {k: t[k].long() for k in ("train_top", "val_top") if k in t}
        return CodeData(meta.get("data", ""), t["train"].long(), t["val"].long(), t.get("train_labels"),
                        t.get("val_labels"), int(meta.get("copies", 1)), **top)
    except Exception as exc:
        raise VQVAEError(f"the code cache {path} is unreadable ({type(exc).__name__})") from None


def check_codes(codes: CodeData, path: Path, prior: PriorConfig, grid: int, shift: int) -> None:
    """A code cache that does not fit the run (another VQ-VAE's, another --shift, no labels
    for a class-conditional prior) is refused in one line instead of failing mid-epoch."""
    copies = (2 * shift + 1) ** 2
    top, problem = (grid + 1) // 2, None
    if codes.train.shape[1:] != (grid, grid) or codes.val.shape[1:] != (grid, grid):
        problem = f"its grids are {tuple(codes.val.shape[1:])}, the VQ-VAE's {grid} x {grid}"
    elif min(codes.train.min(), codes.val.min()) < 0 or max(codes.train.max(), codes.val.max()) >= prior.codebook_size:
        problem = f"its codes are not all in 0..{prior.codebook_size - 1}"
    elif (prior.levels == 2) != (codes.train_top is not None and codes.val_top is not None):
        problem = f"it holds {'no' if prior.levels == 2 else ''} top grids for this {prior.levels}-level prior"
    elif prior.levels == 2 and (codes.train_top.shape != (len(codes.train), top, top)
                                or codes.val_top.shape != (len(codes.val), top, top)):
        problem = f"its top grids do not match its {len(codes.train)} grids of {top} x {top}"
    elif prior.levels == 2 and (min(codes.train_top.min(), codes.val_top.min()) < 0
                                or max(codes.train_top.max(), codes.val_top.max()) >= prior.top_codebook_size):
        problem = f"its top codes are not all in 0..{prior.top_codebook_size - 1}"
    elif codes.copies != copies or len(codes.train) % copies:
        problem = f"it holds {codes.copies} shifted copies of the training images, shift {shift} makes {copies}"
    elif prior.n_classes and (codes.train_labels is None or codes.val_labels is None):
        problem = "it holds no class labels for this class-conditional prior"
    elif codes.train_labels is not None and len(codes.train_labels) != len(codes.train):
        problem = "its labels do not match its grids"
    if problem:
        raise VQVAEError(f"the code cache {path} does not fit this run ({problem})")


def cached_codes(path: Path, prior: PriorConfig, grid: int, shift: int) -> CodeData | None:
    """The run's code cache, or None when there is none or it is damaged or does not fit
    the run (then the run re-encodes its data: the cache is only a copy of what the frozen
    VQ-VAE makes of it). Why it was dropped is said on stderr."""
    if not path.exists():
        return None
    try:
        codes = load_codes(path)
        check_codes(codes, path, prior, grid, shift)
    except VQVAEError as exc:
        print(f"notice: {exc}: encoding the data again", file=sys.stderr)
        return None
    return codes
