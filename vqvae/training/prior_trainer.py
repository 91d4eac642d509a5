"""Training the PixelCNN prior on the codes of a frozen VQ-VAE, and loading it back.

A prior run folder (vqvae/store/layout.py) adds to the VQ-VAE run's layout:

    RUN/vqvae/                 a copy of the frozen VQ-VAE (Hub layout): the run stands alone
    RUN/codes.safetensors      the train and held-out splits, encoded once, with their labels
    RUN/samples/epoch_NNN.png  samples of each epoch's prior, decoded by the VQ-VAE
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.utils as vutils

from vqvae import distributed, files
from vqvae.config import PriorConfig, PriorRunConfig
from vqvae.store import checkpoints
from vqvae.store.load import load_prior, load_vqvae
from vqvae.data.datasets import ImageData, shift_images
from vqvae.store.hub import locate
from vqvae.device import autocast, check_fits, pick_device
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE, encode_images
from vqvae.models.metrics import bits, unigram_nll
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import grid_columns, sample_images
from vqvae.presets import prior_preset
from vqvae.store import run_folder
from vqvae.training.loop import EpochLoop, loop_config, run_loop
from vqvae.store import layout
from vqvae.store.codes import CodeData, cached_codes, save_codes
from vqvae.store.layout import CODES, VQVAE_COPY
from vqvae.store.provenance import data_of_vqvae, data_source_of_vqvae, default_prior_preset, recorded_data


@torch.no_grad()
def encode_splits(vqvae: VQVAE, data: ImageData, shift: int = 0, batch_size: int = 500) -> CodeData:
    """Both splits as codes; with shift > 0 the training images are also encoded moved by
    every (dy, dx) in [-shift, shift]^2: more code grids of plausible images, which the
    prior overfits much later (held-out images are never shifted)."""
    moves = [(0, 0)] + [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1) if dy or dx]

    def encode(images: torch.Tensor, dy: int = 0, dx: int = 0) -> torch.Tensor:
        return torch.cat([encode_images(vqvae, shift_images(chunk, dy, dx)) for chunk in images.split(batch_size)])

    train = torch.cat([encode(data.train, dy, dx) for dy, dx in moves])
    labels = data.train_labels.repeat(len(moves)) if data.train_labels is not None else None
    return CodeData(data.name, train, encode(data.val), labels, data.val_labels, copies=len(moves))


class PriorTrainer:
    """Cross-entropy steps over code grids, and the held-out NLL."""

    def __init__(self, model: GatedPixelCNN, lr: float, device: torch.device, amp: bool = True):
        self.model = model.to(device)
        self.train_model = distributed.wrap(self.model)  # DDP under torchrun
        self.device, self.amp = device, amp
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def train_step(self, codes: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        return self.named(self.step_loss(codes, labels))

    def step_loss(self, codes: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """One optimiser step; its loss left on the device (no wait for it)."""
        self.model.train()
        with autocast(self.device, self.amp):
            logits = self.train_model(codes, labels)
        loss = F.cross_entropy(logits.float(), codes)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @staticmethod
    def named(loss: torch.Tensor) -> dict[str, float]:
        nll = loss.item()
        return {"loss": nll, "bits_per_code": bits(nll)}

    @torch.no_grad()
    def nll(self, codes: torch.Tensor, labels: torch.Tensor | None, batch_size: int = 500) -> float:
        """Mean NLL in nats per code over int64 code grids [N, h, w]."""
        self.model.eval()
        total = 0.0
        for start in range(0, len(codes), batch_size):
            x = codes[start : start + batch_size].to(self.device)
            y = labels[start : start + batch_size].to(self.device) if labels is not None else None
            with autocast(self.device, self.amp):
                logits = self.model(x, y)
            total += F.cross_entropy(logits.float(), x, reduction="sum").item()
        return total / max(codes.numel(), 1)


def new_prior_config(vqvae_ref: str | Path, preset: str | None = None) -> PriorRunConfig:
    """The settings of a new prior on the codes of the VQ-VAE `vqvae_ref`: the prior preset
    `preset`, else the one named like the VQ-VAE run's preset."""
    cfg = prior_preset(preset or default_prior_preset(vqvae_ref))
    cfg.train.vqvae = str(vqvae_ref)
    return cfg


def train_prior(cfg: PriorRunConfig | None, out: str | Path, resume: bool = False, progress: bool = True,
                epochs: int | None = None) -> dict:
    """Train a prior on the codes of the VQ-VAE cfg.train.vqvae into `out`, or resume the
    prior run there; returns the final status. The prior's codebook size and classes come
    from the VQ-VAE and its data. Raises VQVAEError for anything the user can fix."""
    out = Path(out)
    cfg = loop_config(out, cfg, resume, epochs, PriorRunConfig.from_dict, "prior")
    t = cfg.train
    device = pick_device(t.device)
    if resume:
        source, data = None, None
        vqvae = load_vqvae(out / VQVAE_COPY, device)
    else:
        if not t.vqvae:
            raise VQVAEError("name the VQ-VAE whose codes the prior learns: --vqvae RUN_DIR")
        source = locate(t.vqvae, "vqvae", fallback=False).path
        vqvae = load_vqvae(source, device)
        t.dataset, root, t.center_crop, download = data_source_of_vqvae(source, vqvae, t.dataset, t.data)
        t.data = str(Path(root).resolve()) if root else None  # recorded, so a resume can re-encode the same data
        data = recorded_data(t, vqvae, download)
        cfg.prior.codebook_size = vqvae.config.codebook_size
        has_labels = data.train_labels is not None and data.val_labels is not None
        cfg.prior.n_classes = int(data.train_labels.max()) + 1 if t.conditional and has_labels else 0
        cfg.validate()
        grid = vqvae.config.grid_size
        check_fits(prior_training_bytes(cfg.prior, t.batch_size, grid), device,
                   f"a batch of {t.batch_size} code grids of {grid} x {grid} with {cfg.prior.codebook_size} codes",
                   "lower --batch-size or --prior-channels")
    return run_loop(out, resume, lambda: _PriorLoop(out, cfg, vqvae, source, data, device, resume), progress, "prior")


def prior_training_bytes(p: PriorConfig, batch_size: int, grid: int) -> float:
    """Rough peak memory of one prior step: the K logits per position (and their softmax and
    gradient), and about eight maps of both stacks per block, in float32."""
    return 4 * batch_size * grid * grid * (3 * p.codebook_size + 8 * 2 * p.n_blocks * p.channels)


class _PriorLoop(EpochLoop):
    """The epochs of one prior run, with its bookkeeping."""

    postfix_keys = ("loss",)

    def __init__(self, out: Path, cfg: PriorRunConfig, vqvae: VQVAE, vqvae_folder: Path | None,
                 data: ImageData | None, device: torch.device, resume: bool):
        t, p = cfg.train, cfg.prior
        self.out, self.cfg, self.vqvae = out, cfg, vqvae
        self.epochs, self.batch_size, self.seed, self.log_every = t.epochs, t.batch_size, t.seed, t.log_every
        if vqvae.config.codebook_size != p.codebook_size:
            raise VQVAEError(f"the prior models {p.codebook_size} codes but the VQ-VAE in {out / VQVAE_COPY} has "
                             f"{vqvae.config.codebook_size}: restore the run's vqvae/ folder or start a new run")
        if not resume:
            files.atomic_write_json(out / layout.CONFIG, cfg.to_dict())
            _copy_checkpoint(checkpoints.resolve_checkpoint(vqvae_folder), out / VQVAE_COPY)
        run_folder.write_status(out, state="running", pid=os.getpid(), epochs=t.epochs, step=0, epoch=0,
                          message="encoding the data with the VQ-VAE", device=str(device), kind="prior")
        self.codes = cached_codes(out / CODES, p, vqvae.config.grid_size, t.shift) if resume else None
        if self.codes is None:
            if data is None:  # a resume without a usable cache: the data set the run recorded
                # (a run from before the data set was recorded: what the bare VQ-VAE implies)
                data = recorded_data(t, vqvae) if t.dataset else data_of_vqvae(out / VQVAE_COPY, vqvae)
            self.codes = encode_splits(vqvae, data, t.shift)
            save_codes(out / CODES, self.codes)
        codes = self.codes
        self.n_train = len(codes.train)
        self.uniform_nll = math.log(p.codebook_size)
        self.unigram_nll = unigram_nll(codes.unshifted_train, codes.val, p.codebook_size)
        torch.manual_seed(t.seed)
        self.trainer = PriorTrainer(GatedPixelCNN(p), t.lr, device, t.amp)
        self.model, self.model_config, self.optimizer = self.trainer.model, p, self.trainer.optimizer
        self.train_codes = codes.train.to(device)
        self.index_device = device
        self.train_labels = codes.train_labels.to(device) if p.n_classes else None
        self.counters = {"epoch": 0, "batch": 0, "step": 0, "best_val_nll": None}
        if resume:
            self.restore_last(load_prior)
            run_folder.truncate_metrics(out, self.counters["step"])
            files.atomic_write_json(out / layout.CONFIG, cfg.to_dict())  # a resume may have extended the epochs
        run_folder.write_status(out, total_steps=t.epochs * self.steps_per_epoch, step=self.counters["step"],
                          epoch=self.counters["epoch"], message="", data=codes.name,
                          uniform_nll=self.uniform_nll, unigram_nll=self.unigram_nll)

    def step(self, batch: torch.Tensor) -> torch.Tensor:
        t = self.cfg.train
        if t.cosine:
            self.follow_cosine(t.lr)
        batch = batch.to(self.train_codes.device)
        labels = self.train_labels[batch] if self.train_labels is not None else None
        return self.trainer.step_loss(self.train_codes[batch], labels)

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        return self.trainer.named(stats)

    def end_epoch(self, items_per_s: float) -> dict[str, str]:
        self.evaluate_and_save(items_per_s)
        return {"val_nll": f"{self.last_eval['val_nll']:.3f}"}

    def evaluate_and_save(self, items_per_s: float) -> None:
        c, codes = self.counters, self.codes
        val_nll = self.trainer.nll(codes.val, codes.val_labels if self.cfg.prior.n_classes else None)
        ev = {"val_nll": val_nll, "val_bits_per_code": bits(val_nll), "uniform_nll": self.uniform_nll,
              "unigram_nll": self.unigram_nll}
        self.last_eval = ev
        run_folder.append_metrics(self.out, {"kind": "epoch", "epoch": c["epoch"], "step": c["step"], **ev,
                                       "grids_per_s": items_per_s})
        self.save_samples()
        if c["best_val_nll"] is None or val_nll < c["best_val_nll"]:
            c["best_val_nll"] = val_nll
            self.save_checkpoint("best", ev)
        self.save_last(ev)
        run_folder.write_status(self.out, epoch=c["epoch"], step=c["step"], val_nll=val_nll, best_val_nll=c["best_val_nll"])

    def card(self, metrics: dict | None) -> str:
        return prior_card(self.cfg, self.codes, self.counters["step"], metrics, self.unigram_nll)

    def save_samples(self) -> None:
        t = self.cfg.train
        images = sample_images(self.trainer.model, self.vqvae, t.samples, seed=t.seed)
        grid = vutils.make_grid(images.cpu(), nrow=grid_columns(t.samples, self.cfg.prior.n_classes), padding=1, pad_value=1.0)
        files.atomic_write_png(self.out / "samples" / f"epoch_{self.counters['epoch']:03d}.png", grid)

    def final_fields(self) -> dict:
        final = run_folder.read_metrics(self.out, "epoch")
        return dict(val_nll=final[-1]["val_nll"] if final else None, best_val_nll=self.counters["best_val_nll"])


def prior_card(cfg: PriorRunConfig, codes: CodeData, step: int, metrics: dict | None, unigram: float) -> str:
    p = cfg.prior
    side = codes.train.shape[-1]
    lines = [
        "---", "library_name: vqvae", "tags:", "- pixelcnn", "- vq-vae-prior", "---", "",
        f"# Gated PixelCNN prior (K = {p.codebook_size}{', class-conditional' if p.n_classes else ''})", "",
        f"Trained with VQ-VAE Lab (`python -m vqvae train-prior`) for {step} steps on the {side} x {side} codes "
        f"of {codes.name} under the VQ-VAE `{cfg.train.vqvae}` (copied into the run's `vqvae/` folder).", "",
        f"- {p.n_blocks} gated blocks of {p.channels} channels (first kernel {p.first_kernel}, then {p.kernel}), head {p.head}",
    ]
    if p.n_classes:
        lines.append(f"- conditioned on {p.n_classes} class labels")
    if metrics:
        lines += ["", "| held-out NLL | nats per code | bits per code |", "|---|---|---|",
                  f"| this prior | {metrics['val_nll']:.3f} | {metrics['val_bits_per_code']:.3f} |",
                  f"| unigram (training code frequencies) | {unigram:.3f} | {bits(unigram):.3f} |",
                  f"| uniform (ln K) | {math.log(p.codebook_size):.3f} | {math.log2(p.codebook_size):.3f} |"]
    lines += ["", "Sample from it with `python -m vqvae sample --prior RUN_DIR --n 64 --out grid.png`.", ""]
    return "\n".join(lines)


def _copy_checkpoint(source: Path, dest: Path) -> None:
    def fill(folder: Path) -> None:
        for name in (layout.CONFIG, layout.WEIGHTS, "README.md"):
            if (source / name).is_file():
                shutil.copyfile(source / name, folder / name)

    checkpoints.write_folder_atomically(dest, fill)
