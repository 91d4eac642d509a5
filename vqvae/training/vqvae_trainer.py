"""Training a VQ-VAE: its loss (`Trainer`), and one entry point, `train`, for the CLI and
everything built on it (the dashboard's background jobs run the CLI). It writes everything
to a run folder (vqvae/store/layout.py) through the one training loop (loop.py)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vqvae.config import RunConfig
from vqvae.data.datasets import load_data
from vqvae.device import check_fits, pick_device
from vqvae.models.autoencoder import VQVAE
from vqvae.models.two_level import build_vqvae
from vqvae.training.hooks import Hooks
from vqvae.training.kinds.vqvae import VQVAEKind
from vqvae.training.loop import train_run
from vqvae.training.optimizer_step import Stepper
from vqvae.training.run import run_config


class Trainer(Stepper):
    """A VQ-VAE's optimiser steps: reconstruction plus codebook losses; no files, no loops
    over epochs (held-out numbers: vqvae.training.evaluate.evaluate)."""

    STATS = ("loss", "recon", "codebook", "commitment", "perplexity", "codes_used", "dead_codes")

    def __init__(self, model: VQVAE, lr: float, device: torch.device, recon_loss: str = "mse",
                 data_variance: float = 1.0, amp: bool = True, channels_last: bool = False, compile: bool = False):
        """channels_last and compile act on CUDA only (elsewhere they are measured not to pay,
        or need a compiler the machine may lack)."""
        super().__init__(model, lr, device, amp, channels_last, compile)
        self.recon_loss, self.data_variance = recon_loss, data_variance

    def train_step(self, images: torch.Tensor) -> dict[str, float]:
        """images: float [B, C, H, W] in [0, 1] on the device. Returns the step's loss terms."""
        return self.named(self.step_stats(images))

    def step_stats(self, images: torch.Tensor) -> torch.Tensor:
        """One optimiser step on float images [B, C, H, W] in [0, 1]; its loss terms (STATS)
        as one float tensor left on the device."""
        return super().step_stats(images.contiguous(memory_format=self.memory_format))

    def losses(self, model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        out = model(images)
        recon = out.reconstruction.float()
        recon_loss = F.l1_loss(recon, images) if self.recon_loss == "l1" else F.mse_loss(recon, images)
        recon_loss = recon_loss / self.data_variance
        loss = recon_loss + out.quantized.loss
        q = out.quantized
        return loss, (loss, recon_loss, q.codebook_loss, q.commitment_loss, q.perplexity, q.codes_used, q.dead_codes)

    @classmethod
    def named(cls, stats: torch.Tensor) -> dict[str, float]:
        """step_stats by name (one wait for the device, not seven); the counts as ints."""
        named = dict(zip(cls.STATS, stats.tolist()))
        named["codes_used"], named["dead_codes"] = int(named["codes_used"]), int(named["dead_codes"])
        return named


def train(cfg: RunConfig | None, out: str | Path, resume: bool = False, progress: bool = True,
          epochs: int | None = None, hooks: Hooks | None = None) -> dict:
    """Train the run `cfg` into folder `out`, or resume the run already there; returns the
    final status. `hooks` may watch each step and stop the run (vqvae/training/hooks.py).

    A resumed run keeps its saved settings; `epochs` (or, failing that, cfg's epochs) may
    extend it. Raises VQVAEError for anything the user can fix, before anything in `out`
    is touched.
    """
    out = Path(out)
    wanted = epochs if epochs is not None else (cfg.train.epochs if cfg and resume else None)
    cfg = run_config(out, cfg, resume, wanted, RunConfig.from_dict, "vqvae")
    m, t = cfg.model, cfg.train
    device = pick_device(t.device)
    check_fits(training_bytes(cfg), device, f"a batch of {t.batch_size} images of {m.image_size} x {m.image_size}",
               "lower --batch-size or --image-size")
    data = load_data(t.dataset, m.in_channels, m.image_size, t.data, t.center_crop, t.download)

    def make_kind() -> VQVAEKind:
        torch.manual_seed(t.seed)  # the same initial model for the same seed
        model = build_vqvae(m)
        variance = data.variance() if t.divide_by_variance else 1.0
        trainer = Trainer(model, t.lr, device, t.recon_loss, variance, t.amp, t.channels_last, t.compile)
        return VQVAEKind(cfg, data, trainer)

    return train_run(out, resume, "vqvae", make_kind, progress, hooks)


def training_bytes(cfg: RunConfig) -> float:
    """Rough peak memory of one training step: about six float32 maps of the model's width
    at its first feature resolution (activations kept for the backward pass and their
    gradients) per image."""
    m = cfg.model
    side = m.image_size // (2 if m.arch == "conv" else m.patch)
    return 6 * 4 * cfg.train.batch_size * m.hidden * side * side
