"""The bench's Pokémon row: the `pokemon` preset trained by the library (vqvae.train, timed
through hooks, with its augmentation and its cosine learning-rate decay over its 150 epochs,
stopped when the time is up: what `train --preset pokemon` has reached after that long)
beside the second tutorial's patch-MLP recipe (bench/pokemon_baseline.py), on the same
bundled split, at the same image size, for the same training time. (Squeezing the whole
cosine into the budget instead was measured worse: 22.88 dB against 23.36 dB with a
constant rate, 120 s each.)"""

from __future__ import annotations

from bench.pokemon_baseline import K, image_code_bits, train_patch_mlp
from bench.table import against_baseline, compare, row
from bench.timed import timed_training
from vqvae.data.datasets import bundled_pokemon
from vqvae.presets import preset
from vqvae.training.evaluate import evaluate


def train_preset(data, seconds: float) -> dict:
    """The pokemon preset as `train` runs it, stopped after `seconds` of training."""
    cfg = preset("pokemon")
    cfg.train.device = "cpu"
    timed = timed_training(cfg, seconds=seconds)
    ev, m = evaluate(timed["model"], data.val), cfg.model
    return {"psnr": ev["val_psnr"], "perplexity": ev["perplexity"], "codes_used": ev["codes_used"],
            "steps": timed["steps"], "bits": image_code_bits(m.image_size, m.downsample, m.codebook_size)}


def pokemon_rows(quick: bool) -> list[dict]:
    """`pokemon held-out PSNR`: ours against the patch MLP after the same training time, at no
    more code bits per image."""
    seconds = 20 if quick else 120
    data = bundled_pokemon()
    base = train_patch_mlp(data, seconds)
    ours = train_preset(data, seconds)
    k = preset("pokemon").model.codebook_size
    fewer_bits = compare("<=", base["bits"], "bits", of="bits")
    target = None if quick else against_baseline(">=", plus=4, unit="dB") & fewer_bits
    return [row("pokemon held-out PSNR", ours["psnr"], base["psnr"], "dB", target=target,
                note=f"{seconds} s of training each on the bundled 640 / 160 split at 64 x 64; code bits per image: "
                     f"ours {ours['bits']:.0f}, baseline {base['bits']:.0f}; "
                     f"codes used: ours {ours['codes_used']} of {k} "
                     f"(perplexity {ours['perplexity']:.0f}), baseline {base['codes_used']} of {K} (perplexity "
                     f"{base['perplexity']:.0f}); steps: ours {ours['steps']}, baseline {base['steps']}",
                bits=ours["bits"])]
