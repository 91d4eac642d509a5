"""The bench's prior rows: the `mnist` prior preset trained by the library (train_prior, as
`python -m vqvae train-prior` runs it: encoding, shifted copies and per-epoch evaluation
included in its time) against the tutorial's recipe (bench/prior_baseline.py) trained as long
on the same codes, both judged by the bundled classifier (vqvae.training.sample_quality);
its held-out NLL against the unigram model; and the bundled prior's own score."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from bench.prior_baseline import TUTORIAL_PRIOR, train_tutorial
from bench.table import against_baseline, compare, row
from bench.timed import timed_training
from vqvae.models.autoencoder import VQVAE
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.presets import prior_preset
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.training.sample_quality import DEFAULT_N, score_models


def train_ours(vqvae: VQVAE, quick: bool) -> tuple[GatedPixelCNN, float, dict]:
    """The mnist prior preset on the codes of `vqvae`: (its best checkpoint, seconds of the
    whole run, its final status with the preset's epochs and shift)."""
    cfg = prior_preset("mnist")
    if quick:  # a smoke run of the table: a small prior, one epoch, no shifted copies
        cfg.train.epochs, cfg.train.shift = 1, 0
        cfg.prior.channels, cfg.prior.head, cfg.prior.n_blocks = 32, 32, 4
    with tempfile.TemporaryDirectory(prefix="bench-prior-") as tmp:
        vqvae.save_pretrained(Path(tmp) / "vqvae", config=vqvae.config)
        cfg.train.vqvae = str(Path(tmp) / "vqvae")
        timed = timed_training(cfg, Path(tmp) / "prior")
        return (load_prior(Path(tmp) / "prior"), timed["wall_seconds"],
                dict(timed["status"], epochs=cfg.train.epochs, shift=cfg.train.shift))


def prior_nll_rows(prior: GatedPixelCNN, status: dict, seconds: float, k: int) -> list[dict]:
    """Reported, not a target: the prior is judged by its samples (the quality rows)."""
    pc = prior.config
    return [row("prior held-out NLL, EMA codes", status["best_val_nll"], status["unigram_nll"], "nats/code",
                bigger_is_better=False,
                note=f"baseline: the unigram model (training code frequencies); uniform ln K = {math.log(k):.2f}; "
                     f"prior {pc.n_blocks} blocks x {pc.channels} channels, head {pc.head}, "
                     f"{'class-conditional, ' if pc.n_classes else ''}{status['epochs']} epochs, "
                     f"shift {status['shift']}, "
                     f"{seconds / 60:.1f} min of training")]


def judged(n: int, target):
    """The targets hold for scores of DEFAULT_N samples: a smaller smoke run is reported only
    (a Fréchet distance of few samples is biased upward)."""
    return target if n >= DEFAULT_N else None


def quality_rows(vqvae: VQVAE, ours: GatedPixelCNN, ours_seconds: float, n: int = DEFAULT_N) -> list[dict]:
    """`sample quality` rows: ours (trained in `ours_seconds`) against the tutorial's recipe
    trained as long on the same codes, at temperature 1."""
    classifier = load_classifier(BUNDLED_DIR / "mnist-classifier", vqvae.codebook.device)
    tutorial, done = train_tutorial(vqvae, ours_seconds)
    mine, theirs = score_models(ours, vqvae, classifier, n), score_models(tutorial, vqvae, classifier, n)
    note = (f"both trained {ours_seconds / 60:.1f} min on the same codes, n {n}, temperature 1; baseline "
            f"{TUTORIAL_PRIOR['n_blocks']} blocks x {TUTORIAL_PRIOR['channels']} channels made {done['steps']} steps "
            f"({done['epochs']:.1f} epochs, held-out NLL {done['val_nll']:.3f}); the VQ-VAE's reconstructions reach "
            f"{mine['reconstruction_label_accuracy']:.3f} and FD {mine['reconstruction_frechet_distance']:.2f}")
    return [row("sample quality: label accuracy, same CPU time", mine["label_accuracy"], theirs["label_accuracy"],
                "fraction", target=judged(n, against_baseline(">")), note=note),
            row("sample quality: Fréchet distance, same CPU time", mine["frechet_distance"], theirs["frechet_distance"],
                "FD", bigger_is_better=False, target=judged(n, against_baseline("<")))]


def bundled_rows(n: int = DEFAULT_N) -> list[dict]:
    """The bundled mnist-ema-prior's score against its targets (the baseline column holds the
    ceiling: its VQ-VAE's reconstructions)."""
    folder = BUNDLED_DIR / "mnist-ema-prior"
    prior, vqvae = load_prior(folder), load_vqvae(folder / "vqvae")
    got = score_models(prior, vqvae, load_classifier(BUNDLED_DIR / "mnist-classifier"), n)
    return [row("sample quality: bundled mnist-ema-prior label accuracy", got["label_accuracy"],
                got["reconstruction_label_accuracy"], "fraction", target=judged(n, compare(">=", 0.95)),
                note=f"baseline column: its VQ-VAE's reconstructions of the held-out images (the ceiling); n {n}, "
                     f"temperature 1; the classifier reaches {got['classifier_accuracy']:.3f} on the real ones"),
            row("sample quality: bundled mnist-ema-prior Fréchet distance", got["frechet_distance"],
                got["reconstruction_frechet_distance"], "FD", bigger_is_better=False,
                target=judged(n, against_baseline("<=", times=3)))]


def sample_quality_rows(quick: bool) -> list[dict]:
    """Alone (--quality): our preset and the tutorial's recipe on the codes of the bundled
    mnist-ema (those the bundled prior learnt), then the bundled prior's score."""
    vqvae = load_vqvae(BUNDLED_DIR / "mnist-ema")
    ours, seconds, _ = train_ours(vqvae, quick)
    n = 200 if quick else DEFAULT_N
    return quality_rows(vqvae, ours, seconds, n) + bundled_rows(n)
