"""The VQ-VAE as the training loop sees it: a step on a batch of training images (augmented
when asked), held-out MSE deciding the best checkpoint, a preview of reconstructions, its card."""

from __future__ import annotations

from pathlib import Path

import torch

from vqvae import files
from vqvae.config import RunConfig
from vqvae.data.datasets import ImageData, augment, to_float
from vqvae.errors import VQVAEError
from vqvae.grid import image_grid
from vqvae.models.metrics import psnr
from vqvae.store import layout
from vqvae.store.load import load_vqvae
from vqvae.training.evaluate import evaluate
from vqvae.training.kinds.base import Evaluation, Kind, model_card
from vqvae.training.optimizer_step import Stepper


class VQVAEKind(Kind):
    """A VQ-VAE run on `data`, trained by `trainer` (a vqvae_trainer.Trainer)."""

    best_metric = "val_mse"
    rate_name = "images_per_s"
    postfix_keys = ("loss", "perplexity")
    counts_per_batch = ("perplexity", "codes_used")

    def __init__(self, cfg: RunConfig, data: ImageData, trainer: Stepper):
        self.cfg, self.data, self.trainer = cfg, data, trainer
        self.model_config, self.n_train = cfg.model, len(data.train)
        self.preview = data.val[: cfg.train.preview_images]
        self.train_images = _on_device_if_it_fits(data.train, trainer.device)  # no loader, no PIL
        self.index_device = self.train_images.device
        # What a resume must find unchanged: the same images in the same order.
        self.data_id = f"{data.name}: {len(data.train)} train / {len(data.val)} held-out"

    def load(self, folder: Path) -> torch.nn.Module:
        return load_vqvae(folder)

    def extra_counters(self) -> dict:
        return {"data": self.data_id}

    def check_resumed(self, counters: dict) -> None:
        if counters.get("data", self.data_id) != self.data_id:
            raise VQVAEError(f"the run trained on {counters['data']} but now finds {self.data_id}: restore that data "
                             f"to resume, or start a new run in another --out")
        counters["data"] = self.data_id  # a run from before the data was recorded records it now

    def start_fields(self) -> dict:
        return {"data": self.data.name, "skipped_files": self.data.skipped}

    def step(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        images = self.train_images[batch.to(self.train_images.device)]
        t = self.cfg.train
        if t.augment:  # drawn from (seed, step), so a resumed run sees the same batches
            generator = torch.Generator().manual_seed(t.seed * 1_000_003 + step)
            images = augment(images, generator, max(1, self.cfg.model.image_size // 16))
        return self.trainer.step_stats(to_float(images, self.trainer.device))

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        return self.trainer.named(stats)

    def evaluate(self) -> Evaluation:
        model = self.trainer.model
        held_out = evaluate(model, self.data.val, amp=self.trainer.amp, with_usage=True)
        dead = int(model.quantizer.steps_unused.ge(self.cfg.model.dead_code_window).sum())
        # each code's held-out use, kept in the epoch's line: the pages' code-use-by-epoch map
        return Evaluation(held_out, {"dead_codes": dead, "code_usage": held_out.pop("code_usage")})

    @torch.no_grad()
    def save_pictures(self, out: Path, epoch: int) -> None:
        """Held-out originals (top row) over their reconstructions (bottom row)."""
        model = self.trainer.model
        model.eval()
        x = to_float(self.preview, self.trainer.device)
        recon = model(x).reconstruction.float().clamp(0, 1)
        grid = image_grid(torch.cat([x, recon]).cpu(), nrow=len(x))
        files.atomic_write_png(layout.picture_path(out, layout.PREVIEWS, epoch), grid)

    def status_fields(self, line: dict, best: float | None) -> dict:
        return {"val_psnr": line.get("val_psnr"), "best_val_psnr": None if best is None else psnr(best),
                "perplexity": line.get("perplexity"), "codes_used": line.get("codes_used")}

    def postfix(self, line: dict) -> dict[str, str]:
        return {"val_psnr": f"{line['val_psnr']:.2f}dB"}

    def card(self, held_out: dict | None, step: int):
        return vqvae_card(self.cfg, self.data.name, step, held_out)


def vqvae_card(cfg: RunConfig, data_name: str, step: int, metrics: dict | None):
    """A VQ-VAE checkpoint's model card: what it is, what it was trained on, its held-out numbers."""
    m = cfg.model
    codes = f"codes {m.grid_size} x {m.grid_size}"
    if m.levels == 2:
        codes = f"top codes {m.top_grid_size} x {m.top_grid_size} (K = {m.top_codes}) and bottom {codes}"
    lines = [
        f"# {'VQ-VAE-2' if m.levels == 2 else 'VQ-VAE'} ({m.arch}, {m.codebook_words}, K = {m.codebook_size})", "",
        f"Trained with VQ-VAE Lab (`python -m vqvae train`) on {data_name} for {step} steps"
        + (f" (preset `{cfg.preset}`)." if cfg.preset else "."), "",
        f"- images: {m.in_channels} x {m.image_size} x {m.image_size} -> {codes} ({m.code_bits:.0f} bits)",
        f"- code dimension {m.code_dim}, hidden width {m.hidden}",
    ]
    if metrics:
        lines += ["", "| held-out metric | value |", "|---|---|",
                  f"| PSNR | {metrics['val_psnr']:.2f} dB |", f"| MSE | {metrics['val_mse']:.5f} |",
                  f"| perplexity | {metrics['perplexity']:.1f} of {m.codebook_size} |",
                  f"| codes used | {metrics['codes_used']} |"]
    lines += ["", "Load it with `vqvae.load_vqvae(path)` or `VQVAE.from_pretrained(path_or_repo_id)`.", ""]
    return model_card(["vq-vae", "vector-quantization"], "\n".join(lines))


def _on_device_if_it_fits(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The whole uint8 set on the GPU when it takes under half the free memory; else
    batches are moved one at a time."""
    if device.type == "cuda" and images.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]:
        return images.to(device)
    return images
