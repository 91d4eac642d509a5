"""The sample-quality rows of scripts/bench.py (issue 14): our prior against the first
tutorial's prior recipe, given the same CPU time on the same codes, both judged by the
bundled classifier (vqvae.training.sample_quality), and the bundled prior's own score.

Ours: the `mnist` prior preset through train_prior, as `python -m vqvae train-prior` runs
it (encoding, shifted copies and per-epoch evaluation included in its time).
Baseline, the tutorial's recipe: a Gated PixelCNN of 15 blocks, 128 channels and a head of
32 with a code-embedding input (the fixed tutorial), class-conditional like ours, trained
with Adam at 1e-3 and batch 64 on the unshifted training codes for as many seconds as ours
took in all, keeping its best epoch by held-out NLL.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from pathlib import Path

import torch

from vqvae.config import PriorConfig
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.data.datasets import bundled_mnist
from vqvae.store.hub import BUNDLED_DIR
from vqvae.models.autoencoder import VQVAE
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.presets import prior_preset
from vqvae.training.loop import epoch_order
from vqvae.training.prior_trainer import PriorTrainer, encode_splits, train_prior
from vqvae.training.sample_quality import DEFAULT_N, score_models

TUTORIAL_PRIOR = dict(channels=128, head=32, n_blocks=15, first_kernel=7, kernel=3)
TUTORIAL_LR, TUTORIAL_BATCH = 1e-3, 64


def train_ours(vqvae: VQVAE, quick: bool) -> tuple[GatedPixelCNN, float, dict]:
    """The mnist prior preset on the codes of `vqvae`: (its best checkpoint, seconds, status)."""
    cfg = prior_preset("mnist")
    if quick:  # a smoke run of the table: a small prior, one epoch, no shifted copies
        cfg.train.epochs, cfg.train.shift = 1, 0
        cfg.prior.channels, cfg.prior.head, cfg.prior.n_blocks = 32, 32, 4
    with tempfile.TemporaryDirectory() as tmp:
        vqvae.save_pretrained(Path(tmp) / "vqvae", config=vqvae.config)
        cfg.train.vqvae = str(Path(tmp) / "vqvae")
        started = time.perf_counter()
        status = train_prior(cfg, Path(tmp) / "prior", progress=False)
        seconds = time.perf_counter() - started
        return load_prior(Path(tmp) / "prior"), seconds, dict(status, epochs=cfg.train.epochs, shift=cfg.train.shift)


def train_tutorial(vqvae: VQVAE, seconds: float, seed: int = 0) -> tuple[GatedPixelCNN, dict]:
    """The tutorial's recipe on the unshifted codes of the bundled MNIST training split, until
    `seconds` have passed (encoding included, as in ours); the model and what it did."""
    started = time.perf_counter()
    data = bundled_mnist()
    codes = encode_splits(vqvae, data)
    torch.manual_seed(seed)
    device = vqvae.codebook.device
    prior = GatedPixelCNN(PriorConfig(codebook_size=vqvae.config.codebook_size, n_classes=codes.n_classes,
                                      **TUTORIAL_PRIOR)).to(device)
    trainer = PriorTrainer(prior, TUTORIAL_LR, device)
    steps, epoch, best = 0, 0, (math.inf, None)
    while time.perf_counter() - started < seconds:
        for batch in epoch_order(len(codes.train), seed, epoch).split(TUTORIAL_BATCH):
            trainer.train_step(codes.train[batch].to(device), codes.train_labels[batch].to(device))
            steps += 1
            if time.perf_counter() - started >= seconds:
                break
        epoch += 1
        # Kept by held-out NLL after each epoch (and when time is up), as the tutorial keeps its best checkpoint.
        val_nll = trainer.nll(codes.val.to(device), codes.val_labels.to(device))
        if val_nll < best[0]:
            best = val_nll, copy.deepcopy(prior.state_dict())
    prior.load_state_dict(best[1])
    return prior.eval(), {"steps": steps, "epochs": steps * TUTORIAL_BATCH / len(codes.train), "val_nll": best[0]}


def quality_rows(row, vqvae: VQVAE, ours: GatedPixelCNN, ours_seconds: float, n: int = DEFAULT_N) -> list[dict]:
    """`sample quality` rows: ours (trained in `ours_seconds`) against the tutorial's recipe
    trained as long on the same codes, at temperature 1."""
    classifier = load_classifier(BUNDLED_DIR / "mnist-classifier", vqvae.codebook.device)
    tutorial, done = train_tutorial(vqvae, ours_seconds)
    mine, theirs = score_models(ours, vqvae, classifier, n), score_models(tutorial, vqvae, classifier, n)
    note = (f"both trained {ours_seconds / 60:.1f} min on the same codes, n {n}, temperature 1; baseline "
            f"{TUTORIAL_PRIOR['n_blocks']} blocks x {TUTORIAL_PRIOR['channels']} channels made {done['steps']} steps "
            f"({done['epochs']:.1f} epochs, held-out NLL {done['val_nll']:.3f}); the VQ-VAE's reconstructions reach "
            f"{mine['reconstruction_label_accuracy']:.3f} and FD {mine['reconstruction_frechet_distance']:.2f}")
    rows = [row("sample quality: label accuracy, same CPU time", mine["label_accuracy"], theirs["label_accuracy"],
                "fraction", target="> baseline", note=note),
            row("sample quality: Fréchet distance, same CPU time", mine["frechet_distance"], theirs["frechet_distance"],
                "FD", bigger_is_better=False, target="< baseline")]
    rows[0]["met"] = mine["label_accuracy"] > theirs["label_accuracy"]
    rows[1]["met"] = mine["frechet_distance"] < theirs["frechet_distance"]
    return rows


def bundled_rows(row, n: int = DEFAULT_N) -> list[dict]:
    """The bundled mnist-ema-prior's score against the issue's targets (the baseline column
    holds the ceiling: its VQ-VAE's reconstructions)."""
    folder = BUNDLED_DIR / "mnist-ema-prior"
    prior, vqvae = load_prior(folder), load_vqvae(folder / "vqvae")
    got = score_models(prior, vqvae, load_classifier(BUNDLED_DIR / "mnist-classifier"), n)
    rows = [row("sample quality: bundled mnist-ema-prior label accuracy", got["label_accuracy"],
                got["reconstruction_label_accuracy"], "fraction", target=">= 0.95",
                note=f"baseline column: its VQ-VAE's reconstructions of the held-out images (the ceiling); n {n}, "
                     f"temperature 1; the classifier reaches {got['classifier_accuracy']:.3f} on the real ones"),
            row("sample quality: bundled mnist-ema-prior Fréchet distance", got["frechet_distance"],
                got["reconstruction_frechet_distance"], "FD", bigger_is_better=False, target="<= 3x baseline")]
    rows[0]["met"] = got["label_accuracy"] >= 0.95
    rows[1]["met"] = got["frechet_distance"] <= 3 * got["reconstruction_frechet_distance"]
    return rows


def sample_quality_rows(row, quick: bool) -> list[dict]:
    """Alone (bench.py --quality): our preset and the tutorial's recipe on the codes of the
    bundled mnist-ema (those the bundled prior learnt), then the bundled prior's score."""
    vqvae = load_vqvae(BUNDLED_DIR / "mnist-ema")
    ours, seconds, _ = train_ours(vqvae, quick)
    n = 200 if quick else DEFAULT_N
    return quality_rows(row, vqvae, ours, seconds, n) + bundled_rows(row, n)
