"""Training the PixelCNN prior on the codes of a frozen VQ-VAE: its loss (`PriorTrainer`),
the codes it learns (`encode_splits`), and the entry point `train_prior`.

A prior run folder (vqvae/store/layout.py) adds to the VQ-VAE run's layout:

    RUN/vqvae/                 a copy of the frozen VQ-VAE (Hub layout): the run stands alone
    RUN/codes.safetensors      the train and held-out splits, encoded once, with their labels
    RUN/samples/epoch_NNN.png  samples of each epoch's prior, decoded by the VQ-VAE
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vqvae import files
from vqvae.config import PriorConfig, PriorRunConfig
from vqvae.data.datasets import ImageData, shift_images
from vqvae.device import autocast, check_fits, pick_device
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import ENCODE_BATCH, VQVAE
from vqvae.models.metrics import bits
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.two_level import encode_image_grids
from vqvae.models.two_level_prior import TwoLevelPrior, build_prior
from vqvae.presets import prior_preset
from vqvae.store import checkpoints, layout
from vqvae.store.codes import CodeData, cached_codes, save_codes
from vqvae.store.hub import locate
from vqvae.store.load import load_vqvae
from vqvae.store.provenance import data_of_vqvae, data_source_of_vqvae, default_prior_preset, recorded_data
from vqvae.training.hooks import Hooks
from vqvae.training.kinds.prior import PriorKind
from vqvae.training.loop import train_run
from vqvae.training.optimizer_step import Stepper
from vqvae.training.run import run_config
from vqvae.store.run_folder import RunFolder


@torch.no_grad()
def encode_splits(vqvae: VQVAE, data: ImageData, shift: int = 0, batch_size: int = ENCODE_BATCH) -> CodeData:
    """Both splits as codes; with shift > 0 the training images are also encoded moved by
    every (dy, dx) in [-shift, shift]^2: more code grids of plausible images, which the
    prior overfits much later (held-out images are never shifted)."""
    moves = [(0, 0)] + [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1) if dy or dx]

    def encode(images: torch.Tensor, dy: int = 0, dx: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(bottom grids, top grids or None) of the images moved by (dy, dx)."""
        pairs = [encode_image_grids(vqvae, shift_images(chunk, dy, dx)) for chunk in images.split(batch_size)]
        tops = [top for top, _ in pairs]
        return torch.cat([bottom for _, bottom in pairs]), torch.cat(tops) if tops[0] is not None else None

    train = [encode(data.train, dy, dx) for dy, dx in moves]
    (val, val_top), train_tops = encode(data.val), [top for _, top in train]
    labels = data.train_labels.repeat(len(moves)) if data.train_labels is not None else None
    return CodeData(data.name, torch.cat([bottom for bottom, _ in train]), val, labels, data.val_labels,
                    copies=len(moves), train_top=torch.cat(train_tops) if val_top is not None else None,
                    val_top=val_top)


class PriorTrainer(Stepper):
    """Cross-entropy steps over code grids, and the held-out NLL."""

    def __init__(self, model: GatedPixelCNN | TwoLevelPrior, lr: float, device: torch.device, amp: bool = True):
        super().__init__(model, lr, device, amp)

    def train_step(self, codes: torch.Tensor, labels: torch.Tensor | None,
                   top: torch.Tensor | None = None) -> dict[str, float]:
        """codes: int64 grids [B, h, w] on the device; labels [B] or None; top [B, h', w'] for two levels."""
        return self.named(self.step_stats(codes, labels, top))

    def losses(self, model: nn.Module, codes: torch.Tensor, labels: torch.Tensor | None,
               top: torch.Tensor | None = None):
        total, positions = summed_nll(model, codes, labels, top)
        loss = total / positions
        return loss, (loss,)

    @staticmethod
    def named(stats: torch.Tensor) -> dict[str, float]:
        nll = stats.item()
        return {"loss": nll, "bits_per_code": bits(nll)}

    @torch.no_grad()
    def nll(self, codes: torch.Tensor, labels: torch.Tensor | None, top: torch.Tensor | None = None,
            batch_size: int = ENCODE_BATCH) -> float:
        """Mean NLL in nats per code over int64 code grids [N, h, w] (and their top grids [N, h', w'],
        whose codes count as codes too)."""
        self.model.eval()
        total, positions = 0.0, 0
        for start in range(0, len(codes), batch_size):
            part = slice(start, start + batch_size)
            on = [None if t is None else t[part].to(self.device) for t in (codes, labels, top)]
            with autocast(self.device, self.amp):
                nats, count = summed_nll(self.model, *on)
            total, positions = total + nats.item(), positions + count
        return total / max(positions, 1)


def summed_nll(model: nn.Module, codes: torch.Tensor, labels: torch.Tensor | None,
               top: torch.Tensor | None) -> tuple[torch.Tensor, int]:
    """(the NLL in nats summed over every code of the batch, how many codes): a two-level
    prior's top codes and bottom codes alike."""
    if top is None:
        return F.cross_entropy(model(codes, labels).float(), codes, reduction="sum"), codes.numel()
    top_logits, bottom_logits = model(codes, labels, top)
    nats = F.cross_entropy(top_logits.float(), top, reduction="sum")
    return nats + F.cross_entropy(bottom_logits.float(), codes, reduction="sum"), codes.numel() + top.numel()


def new_prior_config(vqvae_ref: str | Path, preset: str | None = None) -> PriorRunConfig:
    """The settings of a new prior on the codes of the VQ-VAE `vqvae_ref`: the prior preset
    `preset`, else the one named like the VQ-VAE run's preset."""
    cfg = prior_preset(preset or default_prior_preset(vqvae_ref))
    cfg.train.vqvae = str(vqvae_ref)
    return cfg


def train_prior(cfg: PriorRunConfig | None, out: str | Path, resume: bool = False, progress: bool = True,
                epochs: int | None = None, hooks: Hooks | None = None) -> dict:
    """Train a prior on the codes of the VQ-VAE cfg.train.vqvae into `out`, or resume the
    prior run there; returns the final status. The prior's codebook size and classes come
    from the VQ-VAE and its data. `hooks` may watch each step and stop the run
    (vqvae/training/hooks.py). Raises VQVAEError for anything the user can fix."""
    out = Path(out)
    cfg = run_config(out, cfg, resume, epochs, PriorRunConfig.from_dict, "prior")
    t = cfg.train
    device = pick_device(t.device)
    if resume:
        source, data = None, None
        vqvae = load_vqvae(out / layout.VQVAE_COPY, device)
    else:
        if not t.vqvae:
            raise VQVAEError("name the VQ-VAE whose codes the prior learns: --vqvae RUN_DIR")
        source = locate(t.vqvae, "vqvae", fallback=False).path
        vqvae = load_vqvae(source, device)
        t.dataset, root, t.center_crop, download = data_source_of_vqvae(source, vqvae, t.dataset, t.data)
        t.data = str(Path(root).resolve()) if root else None  # recorded, so a resume can re-encode the same data
        data = recorded_data(t, vqvae, download)
        cfg.prior.codebook_size = vqvae.config.codebook_size
        cfg.prior.levels = vqvae.config.levels
        cfg.prior.top_codebook_size = vqvae.config.top_codes if vqvae.config.levels == 2 else 0
        has_labels = data.train_labels is not None and data.val_labels is not None
        cfg.prior.n_classes = int(data.train_labels.max()) + 1 if t.conditional and has_labels else 0
        cfg.validate()
        grid = vqvae.config.grid_size
        check_fits(prior_training_bytes(cfg.prior, t.batch_size, grid), device,
                   f"a batch of {t.batch_size} code grids of {grid} x {grid} with {cfg.prior.codebook_size} codes",
                   "lower --batch-size or --prior-channels")

    def make_kind() -> PriorKind:
        codes = prior_codes(out, cfg, vqvae, source, data, device, resume)
        torch.manual_seed(t.seed)  # the same initial prior for the same seed
        return PriorKind(cfg, codes, vqvae, PriorTrainer(build_prior(cfg.prior), t.lr, device, t.amp))

    return train_run(out, resume, "prior", make_kind, progress, hooks)


def prior_codes(out: Path, cfg: PriorRunConfig, vqvae: VQVAE, vqvae_folder: Path | None, data: ImageData | None,
                device: torch.device, resume: bool) -> CodeData:
    """The codes a prior run learns, its folder made to stand alone first: a new run saves its
    config and a copy of its VQ-VAE; the codes come from the run's cache, else are encoded
    (and cached)."""
    t, p = cfg.train, cfg.prior
    if vqvae.config.codebook_size != p.codebook_size or vqvae.config.levels != p.levels:
        raise VQVAEError(f"the prior models {p.codebook_size} codes but the VQ-VAE in {out / layout.VQVAE_COPY} has "
                         f"{vqvae.config.codebook_size}: restore the run's vqvae/ folder or start a new run")
    if not resume:
        files.atomic_write_json(out / layout.CONFIG, cfg.to_dict())
        _copy_checkpoint(checkpoints.resolve_checkpoint(vqvae_folder), out / layout.VQVAE_COPY)
    RunFolder(out).write_status(state="running", pid=os.getpid(), epochs=t.epochs, step=0, epoch=0,
                                message="encoding the data with the VQ-VAE", device=str(device), kind="prior")
    codes = cached_codes(out / layout.CODES, p, vqvae.config.grid_size, t.shift) if resume else None
    if codes is None:
        if data is None:  # a resume without a usable cache: the data set the run recorded
            # (a run from before the data set was recorded: what the bare VQ-VAE implies)
            data = recorded_data(t, vqvae) if t.dataset else data_of_vqvae(out / layout.VQVAE_COPY, vqvae)
        codes = encode_splits(vqvae, data, t.shift)
        save_codes(out / layout.CODES, codes)
    return codes


def prior_training_bytes(p: PriorConfig, batch_size: int, grid: int) -> float:
    """Rough peak memory of one prior step: the K logits per position (and their softmax and
    gradient), and about eight maps of both stacks per block, in float32."""
    return 4 * batch_size * grid * grid * (3 * p.codebook_size + 8 * 2 * p.n_blocks * p.channels)


def _copy_checkpoint(source: Path, dest: Path) -> None:
    def fill(folder: Path) -> None:
        for name in (layout.CONFIG, layout.WEIGHTS, layout.CARD):
            if (source / name).is_file():
                shutil.copyfile(source / name, folder / name)

    checkpoints.write_folder_atomically(dest, fill)
