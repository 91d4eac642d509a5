"""The codebook-variant rows of scripts/bench.py (issue 15): every variant of
vqvae.training.variants trains the `mnist` preset for the same epochs at equal code bits
per image (K 128: 343 bits an image), through the library's Trainer on in-memory tensors as
the bench's own EMA row does; the data-initialised EMA preset is the reference.

On `pokemon` (K 1,024, 16 x 16 codes: 2,560 bits an image) the preset's dead-code restarts
are turned off, so that each variant is its one trick alone and restarts are a variant of
their own; like the MNIST rows, a constant learning rate and no augmentation (the preset
itself decays the rate over 150 epochs and augments).

Per variant: held-out PSNR, perplexity / K and codes in use after the last epoch, and the
optimiser steps and seconds to 22 dB (held-out PSNR checked every quarter epoch on MNIST,
every epoch on Pokémon's 20 steps; steps are the fair count on a shared machine, seconds say
what a step costs).
"""

from __future__ import annotations

import math
import time

import torch

from vqvae.data.datasets import bundled_data, to_float
from vqvae.models.autoencoder import VQVAE
from vqvae.presets import preset
from vqvae.training.evaluate import evaluate
from vqvae.training.loop import epoch_order
from vqvae.training.variants import REFERENCE, VARIANTS, matched_variant
from vqvae.training.vqvae_trainer import Trainer

TARGET_DB = 22.0


CHECKS_PER_EPOCH = {"mnist": 4, "pokemon": 1}  # held-out checks for the 22 dB time (about every 70 steps on MNIST)


def base_settings(dataset: str, epochs: int):
    """The preset every variant of the rows starts from (see the module docstring)."""
    base = preset(dataset)
    base.train.epochs = epochs
    base.model.restart_dead_codes = False
    return base


def train_variant(cfg, data) -> dict:
    """Train one variant's settings; what it measured."""
    t = cfg.train
    torch.manual_seed(t.seed)
    trainer = Trainer(VQVAE(cfg.model), t.lr, torch.device("cpu"), t.recon_loss)
    steps = math.ceil(len(data.train) / t.batch_size)
    check_every = max(1, steps // CHECKS_PER_EPOCH[t.dataset])
    trained, hit_seconds, hit_steps, done = 0.0, None, None, 0
    for epoch in range(t.epochs):
        order = epoch_order(len(data.train), t.seed, epoch)
        started = time.perf_counter()
        for b in range(steps):
            trainer.train_step(to_float(data.train[order[b * t.batch_size : (b + 1) * t.batch_size]], trainer.device))
            done += 1
            if hit_steps is None and (b + 1) % check_every == 0:
                trained += time.perf_counter() - started
                if evaluate(trainer.model, data.val)["val_psnr"] >= TARGET_DB:
                    hit_seconds, hit_steps = trained, done
                started = time.perf_counter()
        trained += time.perf_counter() - started
    final = evaluate(trainer.model, data.val)
    k = cfg.model.codebook_size
    return dict(psnr=final["val_psnr"], usage=final["perplexity"] / k, codes_used=final["codes_used"], k=k,
                steps_to_target=hit_steps, seconds_to_target=hit_seconds, seconds=trained, steps=done)


def variant_rows(row, epochs: int = 10, names: list[str] | None = None, dataset: str = "mnist") -> list[dict]:
    """The rows of the named variants (all of them by default) trained `epochs` on `dataset`:
    on MNIST with the targets of issue 15, on Pokémon without (its preset needs about 60
    epochs to 22 dB)."""
    data, base = bundled_data(dataset), base_settings(dataset, epochs)
    results = {name: train_variant(matched_variant(base, name).config, data) for name in (names or list(VARIANTS))}
    ref = results.get(REFERENCE)
    title = "" if dataset == "mnist" else "Pokémon "
    rows, span = [], f"{epochs} epoch{'s' if epochs != 1 else ''}"
    for name, r in results.items():
        reached = (f"22 dB after {r['steps_to_target']} steps ({r['seconds_to_target']:.0f} s)"
                   if r["steps_to_target"] else f"never 22 dB in {span}")
        rows.append(row(f"{title}variant {name}: held-out PSNR after {span}", r["psnr"], ref and ref["psnr"], "dB",
                        target=">= 22 dB" if epochs >= 20 and dataset == "mnist" else None,
                        note=f"perplexity / K {r['usage']:.2f}, codes in use {r['codes_used']} of {r['k']}; {reached}; "
                             f"{r['seconds']:.0f} s of training; baseline column: the data-initialised EMA"))
        rows[-1]["met"] = r["psnr"] >= 22 if dataset == "mnist" else None
        rows[-1]["usage"], rows[-1]["steps_to_target"] = r["usage"], r["steps_to_target"]
    if dataset != "mnist":  # the targets are MNIST's
        return rows
    if "fsq" in results:
        fsq = results["fsq"]
        rows.append(row(f"FSQ codes in use after {span}", fsq["codes_used"] / fsq["k"], None, "fraction",
                        target=">= 0.95", note=f"{fsq['codes_used']} of {fsq['k']} implicit codes on the held-out images"))
        rows[-1]["met"] = fsq["codes_used"] / fsq["k"] >= 0.95
    kmeans = results.get("ema, k-means init")
    if kmeans and ref:
        rows.append(row("steps to 22 dB, k-means EMA against data-initialised EMA", kmeans["steps_to_target"],
                        ref["steps_to_target"], "steps", bigger_is_better=False, target="fewer"))
        rows[-1]["met"] = (kmeans["steps_to_target"] is not None and ref["steps_to_target"] is not None
                           and kmeans["steps_to_target"] < ref["steps_to_target"])
    return rows
