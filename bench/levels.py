"""The bench's two-level rows: each bundled two-level model (`<data>-vq2`, VQ-VAE-2) against
the bundled one-level model of the same data (`<data>-ema`), each with its own prior.

- held-out PSNR at equal code bits (the two-level's top + bottom bits = the one-level's);
- the rate under the prior: the held-out codes' negative log-likelihood in bits per image
  (top + bottom), beside the held-out PSNR, so each model is one rate-distortion point;
- MNIST sample quality, judged by the bundled classifier as `python -m vqvae score` judges.
"""

from __future__ import annotations

import torch

from bench.table import against_baseline, compare, failed_row, row
from vqvae.dashboard.runs import training_minutes
from vqvae.data.datasets import bundled_data
from vqvae.models.metrics import bits, psnr
from vqvae.models.two_level import encode_image_grids
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.training.evaluate import evaluate
from vqvae.training.prior_trainer import PriorTrainer
from vqvae.training.sample_quality import DEFAULT_N, score_models

# One-level PSNR each data set's two-level model must stay within, and the one-level rate it
# must undercut at no lower PSNR (both read from the bundled one-level model and its prior).
PSNR_SLACK_DB = 0.3
SAMPLE_TARGETS = {"label_accuracy": 0.97, "fd_over_reconstructions": 2.0}


def held_out_bits(prior, vqvae, images: torch.Tensor, labels: torch.Tensor | None) -> float:
    """Mean bits per image of the held-out images' codes (both levels) under the prior."""
    top, bottom = encode_image_grids(vqvae, images)
    nats_per_code = PriorTrainer(prior, 1e-3, prior.embedding.weight.device).nll(
        bottom, labels if prior.config.n_classes else None, top)
    return bits(nats_per_code) * vqvae.config.codes_per_image


@torch.no_grad()
def alone_psnr(vqvae, images: torch.Tensor) -> dict[str, float]:
    """Held-out PSNR of the pictures each level's codes make alone (the other level at its mean code)."""
    vqvae.eval()
    errors = {"top": 0.0, "bottom": 0.0}
    for chunk in images.split(250):
        x = chunk.float() / 255
        top, bottom = vqvae.encode_levels(x)
        for level in errors:
            errors[level] += (vqvae.decode_level_alone(top, bottom, level) - x).pow(2).sum().item()
    return {level: psnr(error / images.numel()) for level, error in errors.items()}


def point(data, name: str) -> dict:
    """One model's rate-distortion point: held-out PSNR, code bits, bits under its prior."""
    vqvae = load_vqvae(BUNDLED_DIR / name)
    prior = load_prior(BUNDLED_DIR / f"{name}-prior")
    return {"psnr": evaluate(vqvae, data.val)["val_psnr"], "code_bits": vqvae.config.code_bits,
            "prior_bits": held_out_bits(prior, vqvae, data.val, data.val_labels),
            "prior_minutes": training_minutes(BUNDLED_DIR / f"{name}-prior")}


def rate_rows(dataset: str) -> list[dict]:
    data = bundled_data(dataset)
    one, two = point(data, f"{dataset}-ema"), point(data, f"{dataset}-vq2")
    where = f"{len(data.val)} held-out {dataset} images"
    alone = alone_psnr(load_vqvae(BUNDLED_DIR / f"{dataset}-vq2"), data.val)
    rows = [row(f"{dataset}: held-out PSNR at equal code bits, two levels vs one", two["psnr"], one["psnr"], "dB",
                target=against_baseline(">=", plus=-PSNR_SLACK_DB, unit="dB"),
                note=f"{dataset}-vq2 ({two['code_bits']:,.0f} code bits) against {dataset}-ema "
                     f"({one['code_bits']:,.0f}), {where}; each level alone (the other at its mean code): "
                     f"top {alone['top']:.2f} dB, bottom {alone['bottom']:.2f} dB")]
    rate_target = against_baseline("<") & compare(">=", round(one["psnr"], 2), "dB", of="psnr")
    rows.append(row(f"{dataset}: bits per image under the prior (top + bottom), two levels vs one", two["prior_bits"],
                    one["prior_bits"], "bits", bigger_is_better=False, psnr=two["psnr"],
                    target=rate_target if dataset == "pokemon" else None,
                    note=f"rate-distortion points, {where}: two levels {two['prior_bits']:,.0f} bits at "
                         f"{two['psnr']:.2f} dB, one level {one['prior_bits']:,.0f} bits at {one['psnr']:.2f} dB"))
    return rows


def sample_rows(n: int) -> list[dict]:
    """mnist-vq2-prior's samples against mnist-ema-prior's, both at temperature 1."""
    classifier = load_classifier(BUNDLED_DIR / "mnist-classifier")
    scores = {}
    for name in ("mnist-vq2", "mnist-ema"):
        prior, vqvae = load_prior(BUNDLED_DIR / f"{name}-prior"), load_vqvae(BUNDLED_DIR / name)
        scores[name] = score_models(prior, vqvae, classifier, n)
    two, one = scores["mnist-vq2"], scores["mnist-ema"]
    minutes = {name: training_minutes(BUNDLED_DIR / f"{name}-prior") for name in scores}
    judged = n >= DEFAULT_N  # a Fréchet distance of few samples is biased upward: reported only
    ceiling = SAMPLE_TARGETS["fd_over_reconstructions"] * two["reconstruction_frechet_distance"]
    trained = ", ".join(f"{name}-prior {'not recorded' if m is None else f'{m:.1f} min'}" for name, m in minutes.items())
    note = (f"n {n}, temperature 1; training time of the epochs: {trained}; reconstructions reach {two['reconstruction_label_accuracy']:.3f}, FD "
            f"{two['reconstruction_frechet_distance']:.2f} (two levels) and {one['reconstruction_label_accuracy']:.3f}, "
            f"FD {one['reconstruction_frechet_distance']:.2f} (one)")
    return [row("mnist: sample label accuracy, two-level prior vs one-level", two["label_accuracy"],
                one["label_accuracy"], "fraction", note=note,
                target=(against_baseline(">") & compare(">=", SAMPLE_TARGETS["label_accuracy"])) if judged else None),
            row("mnist: sample Fréchet distance, two-level prior vs one-level", two["frechet_distance"],
                one["frechet_distance"], "FD", bigger_is_better=False,
                target=(against_baseline("<") & compare("<=", round(ceiling, 2))) if judged else None)]


def levels_rows(quick: bool = False) -> list[dict]:
    """Every two-level row; a part that cannot run (a bundled model missing) is a FAILED row."""
    rows = []
    for dataset in ("mnist", "pokemon"):
        try:
            rows += rate_rows(dataset)
        except Exception as exc:  # the others are still measured
            rows.append(failed_row(f"{dataset}: two levels vs one", exc))
    try:
        rows += sample_rows(200 if quick else DEFAULT_N)
    except Exception as exc:
        rows.append(failed_row("mnist: two-level sample quality", exc))
    return rows
