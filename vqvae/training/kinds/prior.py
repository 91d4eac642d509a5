"""The PixelCNN prior as the training loop sees it: a cross-entropy step on a batch of code
grids, held-out NLL deciding the best checkpoint (beside the uniform and unigram baselines),
samples decoded by its frozen VQ-VAE, its card."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vqvae import files
from vqvae.config import PriorConfig, PriorRunConfig
from vqvae.grid import image_grid
from vqvae.models.autoencoder import VQVAE
from vqvae.models.metrics import bits, unigram_nll
from vqvae.models.sampling import grid_columns, sample_images
from vqvae.store import layout
from vqvae.store.codes import CodeData
from vqvae.store.load import load_prior
from vqvae.training.kinds.base import Evaluation, Kind, model_card
from vqvae.training.optimizer_step import Stepper


class PriorKind(Kind):
    """A prior run on `codes` (both splits, encoded by `vqvae`), trained by `trainer` (a
    prior_trainer.PriorTrainer)."""

    best_metric = "val_nll"
    rate_name = "grids_per_s"

    def __init__(self, cfg: PriorRunConfig, codes: CodeData, vqvae: VQVAE, trainer: Stepper):
        p, device = cfg.prior, trainer.device
        self.cfg, self.codes, self.vqvae, self.trainer = cfg, codes, vqvae, trainer
        self.model_config, self.n_train = p, len(codes.train)
        self.uniform_nll, self.unigram_nll = baselines(codes, p)
        self.train_codes = codes.train.to(device)
        self.train_labels = codes.train_labels.to(device) if p.n_classes else None
        self.train_top = codes.train_top.to(device) if codes.train_top is not None else None
        self.index_device = device

    def load(self, folder: Path) -> torch.nn.Module:
        return load_prior(folder)

    def start_fields(self) -> dict:
        return {"data": self.codes.name, "uniform_nll": self.uniform_nll, "unigram_nll": self.unigram_nll}

    def step(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        batch = batch.to(self.train_codes.device)
        labels = self.train_labels[batch] if self.train_labels is not None else None
        top = self.train_top[batch] if self.train_top is not None else None
        return self.trainer.step_stats(self.train_codes[batch], labels, top)

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        return self.trainer.named(stats)

    def evaluate(self) -> Evaluation:
        codes = self.codes
        val_nll = self.trainer.nll(codes.val, codes.val_labels if self.cfg.prior.n_classes else None, codes.val_top)
        return Evaluation({"val_nll": val_nll, "val_bits_per_code": bits(val_nll),
                           "val_bits_per_image": bits(val_nll) * codes_per_image(codes),
                           "uniform_nll": self.uniform_nll, "unigram_nll": self.unigram_nll})

    def save_pictures(self, out: Path, epoch: int) -> None:
        """Samples of the prior as it is now, decoded by the VQ-VAE (a column per class)."""
        t = self.cfg.train
        images = sample_images(self.trainer.model, self.vqvae, t.samples, seed=t.seed)
        grid = image_grid(images.cpu(), nrow=grid_columns(t.samples, self.cfg.prior.n_classes))
        files.atomic_write_png(layout.picture_path(out, layout.SAMPLES, epoch), grid)

    def status_fields(self, line: dict, best: float | None) -> dict:
        return {"val_nll": line.get("val_nll"), "best_val_nll": best}

    def postfix(self, line: dict) -> dict[str, str]:
        return {"val_nll": f"{line['val_nll']:.3f}"}

    def card(self, held_out: dict | None, step: int):
        return prior_card(self.cfg, self.codes, step, held_out, self.unigram_nll, self.uniform_nll)


def codes_per_image(codes: CodeData) -> int:
    """Codes of one image: h * w, plus h' * w' for two levels."""
    top = codes.val_top[0].numel() if codes.val_top is not None else 0
    return codes.val[0].numel() + top


def baselines(codes: CodeData, p: PriorConfig) -> tuple[float, float]:
    """(uniform, unigram) NLL in nats per code: each level at its own K and its own training
    frequencies, averaged over the codes of an image."""
    one = [(codes.val[0].numel(), math.log(p.codebook_size),
            unigram_nll(codes.unshifted_train, codes.val, p.codebook_size))]
    if codes.val_top is not None:
        top_train = codes.train_top[: len(codes.train_top) // codes.copies]
        one.append((codes.val_top[0].numel(), math.log(p.top_codebook_size),
                    unigram_nll(top_train, codes.val_top, p.top_codebook_size)))
    count = sum(n for n, _, _ in one)
    return sum(n * u for n, u, _ in one) / count, sum(n * g for n, _, g in one) / count


def prior_card(cfg: PriorRunConfig, codes: CodeData, step: int, metrics: dict | None, unigram: float,
               uniform: float):
    """A prior checkpoint's model card: its architecture, the codes it learnt, its held-out
    NLL against the unigram and uniform baselines."""
    p = cfg.prior
    side = codes.train.shape[-1]
    if p.levels == 2:
        top = codes.train_top.shape[-1]
        title = f"Two-level Gated PixelCNN prior (top K = {p.top_codebook_size}, bottom K = {p.codebook_size}"
        grids = f"{top} x {top} top and {side} x {side} bottom codes"
    else:
        title, grids = f"Gated PixelCNN prior (K = {p.codebook_size}", f"{side} x {side} codes"
    lines = [
        f"# {title}{', class-conditional' if p.n_classes else ''})", "",
        f"Trained with VQ-VAE Lab (`python -m vqvae train-prior`) for {step} steps on the {grids} "
        f"of {codes.name} under the VQ-VAE `{cfg.train.vqvae}` (copied into the run's `vqvae/` folder).", "",
        f"- {p.n_blocks} gated blocks of {p.channels} channels (first kernel {p.first_kernel}, then {p.kernel}), head {p.head}"
        + (" in each of two PixelCNNs: the top codes, then the bottom codes given the top ones" if p.levels == 2 else ""),
    ]
    if p.n_classes:
        lines.append(f"- conditioned on {p.n_classes} class labels")
    if metrics:
        lines += ["", "| held-out NLL | nats per code | bits per code |", "|---|---|---|",
                  f"| this prior | {metrics['val_nll']:.3f} | {metrics['val_bits_per_code']:.3f} |",
                  f"| unigram (training code frequencies) | {unigram:.3f} | {bits(unigram):.3f} |",
                  f"| uniform (ln K) | {uniform:.3f} | {bits(uniform):.3f} |"]
        if "val_bits_per_image" in metrics:
            lines += ["", f"Held-out: {metrics['val_bits_per_image']:,.0f} bits per image under this prior "
                          f"({codes_per_image(codes)} codes)."]
    lines += ["", "Sample from it with `python -m vqvae sample --prior RUN_DIR --n 64 --out grid.png`.", ""]
    return model_card(["pixelcnn", "vq-vae-prior"], "\n".join(lines))
