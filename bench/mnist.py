"""The bench's MNIST rows: the `mnist` preset trained by the library (vqvae.train, timed
through hooks) beside the first tutorial's pipeline (bench/baseline.py): time to a held-out
PSNR, held-out PSNR and perplexity after the preset's epochs, training throughput. With
several seeds each side trains once a seed, each row reports each side's mean, and the time
row's note every seed's pair: the seed (weights, codebook start, shuffles) moves the time to
22 dB by a factor of two."""

from __future__ import annotations

from statistics import mean

import torch

from bench.baseline import BASELINE_CONFIG, run_baseline
from bench.table import compare, ratio, row
from bench.timed import Watch, timed_training
from vqvae.presets import preset


def run_ours(data, quantizer: str, epochs: int, target_db: float, device: str = "cpu", seed: int = 0) -> dict:
    """The mnist preset with `quantizer` for `epochs`, as `train` runs it; the training time to
    target_db (held-out PSNR every quarter epoch), the final held-out metrics and the model."""
    cfg = preset("mnist")
    cfg.model.quantizer, cfg.train.epochs, cfg.train.device, cfg.train.seed = quantizer, epochs, device, seed
    return timed_training(cfg, watch=Watch(target_db, data.val))


def mnist_rows(data, quick: bool, seeds: int = 1) -> tuple[list[dict], torch.nn.Module]:
    """The rows, and our EMA model of seed 0 (whose codes the prior rows learn)."""
    epochs = 2 if quick else preset("mnist").train.epochs
    target_db = 18.0 if quick else 22.0
    mnist = preset("mnist")
    k = mnist.model.codebook_size
    bases = [run_baseline(data, epochs, target_db, seed=seed) for seed in range(seeds)]
    emas = [run_ours(data, "ema", epochs, target_db, seed=seed) for seed in range(seeds)]
    plains = [run_ours(data, "plain", epochs, target_db, seed=seed) for seed in range(seeds)]
    ours_seconds = [ema["seconds_to_target"] for ema in emas]
    # A baseline that never reached the target stands in with its whole training time: a lower bound.
    base_seconds = [b.seconds_to_target if b.seconds_to_target is not None else epochs * len(data.train) / b.images_per_s
                    for b in bases]
    notes = [f"ours never reached {target_db:g} dB at seed {seed}" for seed, s in enumerate(ours_seconds) if s is None]
    notes += [f"the baseline never reached {target_db:g} dB in {epochs} epochs at seed {seed}: the ratio is a lower "
              f"bound, counted at its full training time" for seed, b in enumerate(bases) if b.seconds_to_target is None]
    if seeds > 1:
        notes.append("by seed, ours / baseline: " + ", ".join(
            f"{'-' if o is None else f'{o:.1f}'} / {b:.1f} s" for o, b in zip(ours_seconds, base_seconds)))
    targets = {} if quick else {"time": ratio(">=", 5), "ema": compare(">=", 24, "dB"),
                                "plain": compare(">=", 23, "dB"), "usage": compare(">=", 0.6)}
    of_seeds = f", mean of {seeds} seeds" if seeds > 1 else ""
    base_usage = mean(b.perplexity for b in bases) / BASELINE_CONFIG.codebook_size
    base_psnr = mean(b.final_psnr for b in bases)
    rows = [
        row(f"time to {target_db:g} dB{of_seeds}", None if None in ours_seconds else mean(ours_seconds),
            mean(base_seconds), "s", bigger_is_better=False, target=targets.get("time"), note="; ".join(notes)),
        row(f"held-out PSNR after {epochs} epochs, EMA{of_seeds}", final(emas, "val_psnr"),
            base_psnr, "dB", target=targets.get("ema")),
        row(f"held-out PSNR after {epochs} epochs, plain{of_seeds}", final(plains, "val_psnr"),
            base_psnr, "dB", target=targets.get("plain")),
        row(f"held-out perplexity / K, EMA{of_seeds}", final(emas, "perplexity") / k, base_usage, "fraction",
            target=targets.get("usage"), note=f"ours K = {k}, baseline K = {BASELINE_CONFIG.codebook_size}"),
        row(f"held-out perplexity / K, plain{of_seeds}", final(plains, "perplexity") / k, base_usage, "fraction"),
        row(f"training throughput, EMA{of_seeds}", mean(ema["items_per_s"] for ema in emas),
            mean(b.images_per_s for b in bases), "images/s",
            note=f"ours: the preset's model (width {mnist.model.hidden}, K {k}, batch {mnist.train.batch_size}, EMA "
                 f"decay {mnist.model.ema_decay:g}, Adam at {mnist.train.lr:g}) trained by vqvae.train on in-memory "
                 "tensors; baseline: width 32, K 32, batch 64, Adam at 0.001 through a per-item PIL DataLoader"),
    ]
    return rows, emas[0]["model"]


def final(runs: list[dict], name: str) -> float:
    """The mean over seeds of a held-out number of the runs' final models."""
    return mean(run["final"][name] for run in runs)
