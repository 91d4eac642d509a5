"""The bench's codebook-variant rows: every variant of vqvae.training.variants trains the
`mnist` preset for the same epochs at equal code bits per image (K 128: 343 bits an image),
through vqvae.train (timed through hooks) as the bench's own EMA row does; the
data-initialised EMA preset is the reference.

On `pokemon` (K 2,048, 16 x 16 codes: 2,816 bits an image) the preset's dead-code restarts
are turned off, so that each variant is its one trick alone and restarts are a variant of
their own; like the MNIST rows, a constant learning rate and no augmentation (the preset
itself decays the rate over 150 epochs and augments).

Per variant: held-out PSNR, perplexity / K and codes in use after the last epoch, and the
optimiser steps and seconds to 22 dB (held-out PSNR checked every quarter epoch on MNIST,
every epoch on Pokémon's 20 steps; steps are the fair count on a shared machine, seconds say
what a step costs).
"""

from __future__ import annotations

import json

from bench.table import against_baseline, compare, row
from bench.timed import Watch, timed_training
from vqvae.data.datasets import bundled_data
from vqvae.presets import preset
from vqvae.training import vqvae_trainer
from vqvae.training.variants import REFERENCE, VARIANTS, matched_variant

TARGET_DB = 22.0
TARGET_EPOCHS = 10  # the run length the variant targets were set for (python -m bench --variants 10)
CHECKS_PER_EPOCH = {"mnist": 4, "pokemon": 1}  # held-out checks for the 22 dB time (about every 70 steps on MNIST)


def base_settings(dataset: str, epochs: int):
    """The preset every variant of the rows starts from (see the module docstring)."""
    base = preset(dataset)
    base.train.epochs, base.train.device = epochs, "cpu"
    base.train.cosine = base.train.augment = False
    base.model.restart_dead_codes = False
    return base


_MEASURED: dict[str, dict] = {}  # settings (as JSON) -> what training them measured, within one bench run


def train_variant(cfg, data) -> dict:
    """Train one variant's settings through the library; what it measured. Settings already
    trained in this run with the same quantizer inside (ours, or the reference library's while
    bench.reference swaps it in) are not trained again: a variant is also a reference pair's ours."""
    key = json.dumps(cfg.to_dict(), sort_keys=True) + getattr(vqvae_trainer.build_vqvae, "__name__", "")
    if key not in _MEASURED:
        _MEASURED[key] = _trained(cfg, data)
    return _MEASURED[key]


def _trained(cfg, data) -> dict:
    timed = timed_training(cfg, watch=Watch(TARGET_DB, data.val, CHECKS_PER_EPOCH[cfg.train.dataset]))
    final, k = timed["final"], cfg.model.codebook_size
    return dict(psnr=final["val_psnr"], usage=final["perplexity"] / k, codes_used=final["codes_used"], k=k,
                steps_to_target=timed["steps_to_target"], seconds_to_target=timed["seconds_to_target"],
                seconds=timed["seconds"], steps=timed["steps"], stage_dead=stage_dead(timed["model"].quantizer))


def stage_dead(quantizer) -> list[float] | None:
    """Residual VQ: the fraction of each stage's codes unused for the dead-code window at the
    end of training (None for one codebook)."""
    stages = getattr(quantizer, "stages", None)
    if stages is None:
        return None
    return [float((stage.steps_unused >= stage.dead_code_window).float().mean()) for stage in stages]


def stage_dead_note(dead: list[float]) -> str:
    return "each stage's codes unused for the last 100 steps: " + ", ".join(f"{fraction:.0%}" for fraction in dead)


def variant_rows(epochs: int = 10, names: list[str] | None = None, dataset: str = "mnist") -> list[dict]:
    """The rows of the named variants (all of them by default) trained `epochs` on `dataset`:
    on MNIST with targets, on Pokémon without (its preset needs about 60 epochs to 22 dB)."""
    data, base = bundled_data(dataset), base_settings(dataset, epochs)
    names = list(VARIANTS) if names is None else names
    results = {name: train_variant(matched_variant(base, name).config, data) for name in names}
    ref = results.get(REFERENCE)
    title = "" if dataset == "mnist" else "Pokémon "
    rows, span = [], f"{epochs} epoch{'s' if epochs != 1 else ''}"
    for name, r in results.items():
        reached = (f"22 dB after {r['steps_to_target']} steps ({r['seconds_to_target']:.0f} s)"
                   if r["steps_to_target"] else f"never 22 dB in {span}")
        rows.append(row(f"{title}variant {name}: held-out PSNR after {span}", r["psnr"], ref and ref["psnr"], "dB",
                        target=compare(">=", TARGET_DB, "dB") if epochs >= 20 and dataset == "mnist" else None,
                        note=f"perplexity / K {r['usage']:.2f}, codes in use {r['codes_used']} of {r['k']}; {reached}; "
                             f"{r['seconds']:.0f} s of training; baseline column: the data-initialised EMA",
                        usage=r["usage"], steps_to_target=r["steps_to_target"]))
    return rows + (mnist_target_rows(results, span, judged=epochs >= TARGET_EPOCHS) if dataset == "mnist" else [])


def mnist_target_rows(results: dict, span: str, judged: bool = True) -> list[dict]:
    """FSQ's codes in use, and k-means initialisation against data initialisation; their
    targets hold for runs of TARGET_EPOCHS or more (a shorter smoke run is reported only)."""
    rows, ref = [], results.get(REFERENCE)
    if "fsq" in results:
        fsq = results["fsq"]
        rows.append(row(f"FSQ codes in use after {span}", fsq["codes_used"] / fsq["k"], None, "fraction",
                        target=compare(">=", 0.95) if judged else None,
                        note=f"{fsq['codes_used']} of {fsq['k']} implicit codes on the held-out images"))
    for name in ("residual VQ", "residual VQ, restarts"):
        if results.get(name) and results[name]["stage_dead"] is not None:
            dead = results[name]["stage_dead"]
            rows.append(row(f"{name}: dead codes of its worst stage after {span}", max(dead), None, "fraction",
                            bigger_is_better=False,
                            target=compare("<", 0.05) if judged and name.endswith("restarts") else None,
                            note=stage_dead_note(dead)))
    kmeans = results.get("ema, k-means init")
    if kmeans and ref:
        rows.append(row("steps to 22 dB, k-means EMA against data-initialised EMA", kmeans["steps_to_target"],
                        ref["steps_to_target"], "steps", bigger_is_better=False,
                        target=against_baseline("<") if judged else None))
    return rows


DEPTHS = (2, 3, 4, 6)  # stages of 64, 16, 8 and 4 codes: 4,096 combined codes each
DEPTH_K = 4096


def depth_rows(epochs: int) -> list[dict]:
    """Residual VQ's dead codes by depth on MNIST at K 4,096 (12 bits a position), each stage
    with and without dead-code restarts: the fraction of its worst stage's codes unused for
    the last 100 steps, and the held-out PSNR."""
    data, base = bundled_data("mnist"), base_settings("mnist", epochs)
    rows = []
    for depth in DEPTHS:
        for restarts in (False, True):
            cfg = matched_variant(base, "ema").config
            cfg.model.codebook_size, cfg.model.residual_depth, cfg.model.restart_dead_codes = DEPTH_K, depth, restarts
            r = train_variant(cfg.validate(), data)
            stage = cfg.model.stage_codebook_size
            rows.append(row(f"residual VQ depth {depth} ({depth} x {stage} codes){', restarts' if restarts else ''}: "
                            f"dead codes of its worst stage after {epochs} epochs", max(r["stage_dead"]), None,
                            "fraction", bigger_is_better=False, target=compare("<", 0.05) if restarts else None,
                            note=stage_dead_note(r["stage_dead"])
                                 + f"; held-out PSNR {r['psnr']:.2f} dB, {r['codes_used']:,} of {DEPTH_K:,} combined "
                                   "codes in use"))
    return rows
