"""Training a VQ-VAE: one entry point, `train`, for the CLI and everything built on it
(the dashboard's background jobs run the CLI). It writes everything to a run folder (vqvae/store/layout.py).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.utils as vutils

from vqvae import distributed, files
from vqvae.config import RunConfig
from vqvae.store.load import load_vqvae
from vqvae.data.datasets import ImageData, augment, load_data, to_float
from vqvae.device import autocast, check_fits, pick_device
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.metrics import psnr
from vqvae.store import run_folder
from vqvae.training.evaluate import evaluate
from vqvae.training.loop import EpochLoop, loop_config, run_loop
from vqvae.store import layout


class Trainer:
    """One optimiser step at a time; no files, no loops over epochs (held-out numbers:
    vqvae.training.evaluate.evaluate)."""

    def __init__(self, model: VQVAE, lr: float, device: torch.device, recon_loss: str = "mse",
                 data_variance: float = 1.0, amp: bool = True, channels_last: bool = False, compile: bool = False):
        """channels_last and compile act on CUDA only (elsewhere they are measured not to pay,
        or need a compiler the machine may lack)."""
        self.model = model.to(device)
        self.device = device
        self.recon_loss = recon_loss
        self.data_variance = data_variance
        self.amp = amp
        self.memory_format = torch.channels_last if channels_last and device.type == "cuda" else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        self.train_model = distributed.wrap(self.model)  # DDP under torchrun
        if compile and device.type == "cuda":
            self.train_model = torch.compile(self.train_model)
        # The EMA codebook is a buffer, so the optimiser never sees it.
        self.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)

    STATS = ("loss", "recon", "codebook", "commitment", "perplexity", "codes_used", "dead_codes")

    def train_step(self, images: torch.Tensor) -> dict[str, float]:
        """images: float [B, C, H, W] in [0, 1] on the device. Returns the step's loss terms."""
        return self.named(self.step_stats(images))

    def step_stats(self, images: torch.Tensor) -> torch.Tensor:
        """One optimiser step; its loss terms (STATS) as one float tensor left on the device,
        so that a loop logging every few steps never waits for the device in between."""
        self.model.train()
        images = images.contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.amp):
            out = self.train_model(images)
            recon = out.reconstruction.float()
            if self.recon_loss == "l1":
                recon_loss = F.l1_loss(recon, images)
            else:
                recon_loss = F.mse_loss(recon, images)
            recon_loss = recon_loss / self.data_variance
            loss = recon_loss + out.quantized.loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        q = out.quantized
        return torch.stack([loss, recon_loss, q.codebook_loss, q.commitment_loss, q.perplexity,
                            q.codes_used, q.dead_codes]).detach().float()

    @classmethod
    def named(cls, stats: torch.Tensor) -> dict[str, float]:
        """step_stats by name (one wait for the device, not seven); the counts as ints."""
        named = dict(zip(cls.STATS, stats.tolist()))
        named["codes_used"], named["dead_codes"] = int(named["codes_used"]), int(named["dead_codes"])
        return named


def train(cfg: RunConfig | None, out: str | Path, resume: bool = False, progress: bool = True,
          epochs: int | None = None) -> dict:
    """Train the run `cfg` into folder `out`, or resume the run already there; returns the
    final status.

    A resumed run keeps its saved settings; `epochs` (or, failing that, cfg's epochs) may
    extend it. Raises VQVAEError for anything the user can fix, before anything in `out`
    is touched.
    """
    out = Path(out)
    wanted = epochs if epochs is not None else (cfg.train.epochs if cfg and resume else None)
    cfg = loop_config(out, cfg, resume, wanted, RunConfig.from_dict, "vqvae")
    m, t = cfg.model, cfg.train
    device = pick_device(t.device)
    check_fits(training_bytes(cfg), device, f"a batch of {t.batch_size} images of {m.image_size} x {m.image_size}",
               "lower --batch-size or --image-size")
    data = load_data(t.dataset, m.in_channels, m.image_size, t.data, t.center_crop, t.download)
    return run_loop(out, resume, lambda: _VQVAELoop(out, cfg, data, device, resume), progress, "vqvae")


def training_bytes(cfg: RunConfig) -> float:
    """Rough peak memory of one training step: about six float32 maps of the model's width
    at its first feature resolution (activations kept for the backward pass and their
    gradients) per image."""
    m = cfg.model
    side = m.image_size // (2 if m.arch == "conv" else m.patch)
    return 6 * 4 * cfg.train.batch_size * m.hidden * side * side


class _VQVAELoop(EpochLoop):
    """The epochs of one VQ-VAE run, with its bookkeeping."""

    postfix_keys = ("loss", "perplexity")
    counts_per_batch = ("perplexity", "codes_used")

    def __init__(self, out: Path, cfg: RunConfig, data: ImageData, device: torch.device, resume: bool):
        m, t = cfg.model, cfg.train
        self.out, self.cfg, self.data = out, cfg, data
        self.epochs, self.batch_size, self.seed, self.log_every = t.epochs, t.batch_size, t.seed, t.log_every
        self.n_train = len(data.train)
        self.preview = data.val[: t.preview_images]
        torch.manual_seed(t.seed)
        model = VQVAE(m)
        self.trainer = Trainer(model, t.lr, device, t.recon_loss, data.variance() if t.divide_by_variance else 1.0, t.amp,
                               t.channels_last, t.compile)
        self.model, self.model_config, self.optimizer = model, m, self.trainer.optimizer
        self.train_images = _on_device_if_it_fits(data.train, device)  # no loader, no PIL
        self.index_device = self.train_images.device
        # What a resume must find unchanged: the same images in the same order.
        data_id = f"{data.name}: {len(data.train)} train / {len(data.val)} held-out"
        self.c = self.counters = {"epoch": 0, "batch": 0, "step": 0, "best_val_mse": None, "data": data_id}
        if resume:
            self.restore_last(load_vqvae)
            if self.c.get("data", data_id) != data_id:
                raise VQVAEError(f"the run trained on {self.c['data']} but now finds {data_id}: restore that data to resume, "
                                 f"or start a new run in another --out")
            self.c["data"] = data_id
            run_folder.truncate_metrics(out, self.c["step"])
        files.atomic_write_json(out / layout.CONFIG, cfg.to_dict())  # a resume may have extended the epochs
        run_folder.write_status(out, state="running", pid=os.getpid(), epochs=t.epochs,
                          total_steps=t.epochs * self.steps_per_epoch, step=self.c["step"], epoch=self.c["epoch"],
                          message="", data=data.name, skipped_files=data.skipped, device=str(device))

    def step(self, batch: torch.Tensor) -> torch.Tensor:
        if self.cfg.train.cosine:
            self.follow_cosine(self.cfg.train.lr)
        images = self.train_images[batch.to(self.train_images.device)]
        if self.cfg.train.augment:  # drawn from (seed, step), so a resumed run sees the same batches
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.c["step"])
            images = augment(images, generator, max(1, self.cfg.model.image_size // 16))
        return self.trainer.step_stats(to_float(images, self.trainer.device))

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        return self.trainer.named(stats)

    def final_fields(self) -> dict:
        final = run_folder.read_metrics(self.out, "epoch")
        last = final[-1] if final else {}
        return dict(val_psnr=last.get("val_psnr"), best_val_psnr=_psnr_or_none(self.c["best_val_mse"]),
                    perplexity=last.get("perplexity"), codes_used=last.get("codes_used"))

    def end_epoch(self, images_per_s: float) -> dict[str, str]:
        self.evaluate_and_save(images_per_s)
        run_folder.write_status(self.out, epoch=self.c["epoch"], step=self.c["step"], val_psnr=self.last_eval["val_psnr"],
                          best_val_psnr=_psnr_or_none(self.c["best_val_mse"]))
        return {"val_psnr": f"{self.last_eval['val_psnr']:.2f}dB"}

    def evaluate_and_save(self, images_per_s: float) -> None:
        c = self.c
        ev = evaluate(self.trainer.model, self.data.val, amp=self.trainer.amp)
        self.last_eval = ev
        dead = int(self.trainer.model.quantizer.steps_unused.ge(self.cfg.model.dead_code_window).sum())
        run_folder.append_metrics(self.out, {"kind": "epoch", "epoch": c["epoch"], "step": c["step"], **ev,
                                       "dead_codes": dead, "images_per_s": images_per_s,
                                       "seconds": self.epoch_seconds})
        self.save_preview()
        if c["best_val_mse"] is None or ev["val_mse"] < c["best_val_mse"]:
            c["best_val_mse"] = ev["val_mse"]
            self.save_checkpoint("best", ev)
        self.save_last(ev)

    def card(self, metrics: dict | None) -> str:
        return model_card(self.cfg, self.data.name, self.c["step"], metrics)

    @torch.no_grad()
    def save_preview(self) -> None:
        model, device = self.trainer.model, self.trainer.device
        model.eval()
        x = to_float(self.preview, device)
        recon = model(x).reconstruction.float().clamp(0, 1)
        grid = vutils.make_grid(torch.cat([x, recon]).cpu(), nrow=len(x), padding=1, pad_value=1.0)
        files.atomic_write_png(self.out / "previews" / f"epoch_{self.c['epoch']:03d}.png", grid)


def model_card(cfg: RunConfig, data_name: str, step: int, metrics: dict | None) -> str:
    m = cfg.model
    lines = [
        "---", "library_name: vqvae", "tags:", "- vq-vae", "- vector-quantization", "---", "",
        f"# VQ-VAE ({m.arch}, {m.codebook_words}, K = {m.codebook_size})", "",
        f"Trained with VQ-VAE Lab (`python -m vqvae train`) on {data_name} for {step} steps"
        + (f" (preset `{cfg.preset}`)." if cfg.preset else "."), "",
        f"- images: {m.in_channels} x {m.image_size} x {m.image_size} -> codes {m.grid_size} x {m.grid_size}"
        f" ({m.grid_size ** 2 * math.log2(m.codebook_size):.0f} bits)",
        f"- code dimension {m.code_dim}, hidden width {m.hidden}",
    ]
    if metrics:
        lines += ["", "| held-out metric | value |", "|---|---|",
                  f"| PSNR | {metrics['val_psnr']:.2f} dB |", f"| MSE | {metrics['val_mse']:.5f} |",
                  f"| perplexity | {metrics['perplexity']:.1f} of {m.codebook_size} |",
                  f"| codes used | {metrics['codes_used']} |"]
    lines += ["", "Load it with `vqvae.load_vqvae(path)` or `VQVAE.from_pretrained(path_or_repo_id)`.", ""]
    return "\n".join(lines)


def _psnr_or_none(mse: float | None) -> float | None:
    return None if mse is None else psnr(mse)


def _on_device_if_it_fits(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The whole uint8 set on the GPU when it takes under half the free memory; else
    batches are moved one at a time."""
    if device.type == "cuda" and images.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]:
        return images.to(device)
    return images
