"""The codebook variants set side by side (the Compare page, the bench), and how a set of
them is matched: same data, seed, architecture and epochs, and equal code bits per image.

A variant is a name and the ModelConfig settings it changes; everything else comes from
the preset. The VQ variants keep the preset's K; FSQ's K is the product of its levels, so
levels are picked to multiply to that K; residual VQ's K is its stage codebooks' size to
the power of its depth, so the stages get the nearest whole root of K; the match says when
none is exact. LFQ and BSQ take D = log2 K: K must be a power of two.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import re
from dataclasses import dataclass

from vqvae.config import RunConfig
from vqvae.settings import levels_text
from vqvae.errors import VQVAEError
from vqvae.models.metrics import code_bits

# name -> the settings it changes; "ema" is the reference the others are read against.
VARIANTS: dict[str, dict] = {
    "plain": dict(quantizer="plain"),
    "ema": dict(quantizer="ema"),
    "ema, bias-corrected": dict(quantizer="ema", ema_bias_correction=True),
    "ema, k-means init": dict(quantizer="ema", codebook_init="kmeans"),
    "ema, dead-code restarts": dict(quantizer="ema", restart_dead_codes=True),
    "ema, rotation trick": dict(quantizer="ema", straight_through="rotation"),
    "ema, cosine": dict(quantizer="ema", cosine_codebook=True),
    "ema, low-dim lookup": dict(quantizer="ema", lookup_dim=4),
    "fsq": dict(quantizer="fsq"),
    "two levels": dict(quantizer="ema", levels=2),
    "residual VQ": dict(quantizer="ema", residual_depth=2),
    "residual VQ, restarts": dict(quantizer="ema", residual_depth=2, restart_dead_codes=True),
    "SimVQ": dict(quantizer="simvq"),
    "LFQ": dict(quantizer="lfq"),
    "BSQ": dict(quantizer="bsq"),
}
REFERENCE = "ema"
MAX_LEVEL, MAX_DIMS = 8, 6  # the FSQ paper's levels stay within 8, its codes within 6 dimensions


def variant_slug(name: str) -> str:
    """A variant's name as model and run names carry it: "ema, rotation trick" -> "ema-rotation-trick"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def comparison_name(dataset: str, variant: str) -> str:
    """The name scripts/train_all.py gives a model of a data set's bundled comparison."""
    return f"{dataset}-compare-{variant_slug(variant)}"


def bundled_set(dataset: str, bundled: list[str]) -> list[str]:
    """The bundled models the Compare page opens on for `dataset`: its bundled comparison (a
    matched set with its curves) in the order of VARIANTS, at most four; else its plain and
    EMA pair."""
    comparison = [comparison_name(dataset, name) for name in VARIANTS]
    found = [name for name in comparison if name in bundled][:4]
    return found or [name for name in (f"{dataset}-plain", f"{dataset}-ema") if name in bundled]


def bits_per_image(codebook_size: int, grid_size: int) -> float:
    """What one image's code grid costs: h w log2 K bits."""
    return code_bits(grid_size, grid_size, codebook_size)


def two_level_sizes(bits: float, bottom: int, top: int) -> tuple[int, int]:
    """(bottom K, top K), powers of two, whose codes on a bottom x bottom and a top x top grid
    cost as near `bits` an image as such sizes get; among equals, the most even split."""
    def cost(widths: tuple[int, int]) -> tuple:
        b, t = widths
        return abs(bottom * bottom * b + top * top * t - bits), abs(b - t)

    b, t = min(itertools.product(range(1, 15), repeat=2), key=cost)
    return 2**b, 2**t


def fsq_levels_for(codebook_size: int) -> tuple[int, ...]:
    """FSQ levels whose product is codebook_size, or as near as levels of 2..8 in at most 6
    dimensions get (in log2); among equals, the fewest dimensions, then the most even
    levels (128: 8,4,4; 1,000: 8,5,5,5, the paper's; 1,024: 8,8,4,4)."""
    target = math.log2(codebook_size)

    def cost(levels: tuple[int, ...]) -> tuple:
        return abs(math.log2(math.prod(levels)) - target), len(levels), max(levels) - min(levels)

    candidates = (levels for dims in range(1, MAX_DIMS + 1)
                  for levels in itertools.combinations_with_replacement(range(MAX_LEVEL, 1, -1), dims))
    return min(candidates, key=cost)


@dataclass
class Matched:
    """One variant of a matched set: its name, its run settings and what its codes cost."""

    name: str
    config: RunConfig
    bits: float  # code bits per image
    note: str = ""  # why its bits differ from the reference's, when they do


def matched_set(base: RunConfig, names: list[str]) -> list[Matched]:
    """The run settings of each named variant: `base` (a preset with its epochs and seed
    chosen) with only the variant's settings changed, at the bits per image of base's K."""
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise VQVAEError(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    if not 2 <= len(names) <= 4 or len(set(names)) != len(names):
        raise VQVAEError(f"compare 2 to 4 different variants, not {len(names)}{' with repeats' if len(set(names)) != len(names) else ''}")
    return [matched_variant(base, name) for name in names]


def matched_variant(base: RunConfig, name: str) -> Matched:
    """One variant's run settings at the bits per image of base's K (see matched_set)."""
    m = base.model
    target = bits_per_image(m.codebook_size, m.grid_size)
    cfg = copy.deepcopy(base)
    changes = dict(VARIANTS[name])
    if changes["quantizer"] == "fsq":
        changes["fsq_levels"] = fsq_levels_for(m.codebook_size)
    if changes.get("residual_depth", 1) > 1:
        changes["codebook_size"] = round(m.codebook_size ** (1 / changes["residual_depth"])) ** changes["residual_depth"]
    if changes.get("levels") == 2:
        changes["codebook_size"], changes["top_codebook_size"] = two_level_sizes(
            target, m.grid_size, (m.grid_size + 1) // 2)
    cfg.model = dataclasses.replace(cfg.model, **changes)  # made anew: FSQ's K and D follow from its levels
    if cfg.model.lookup_dim is not None and cfg.model.lookup_dim >= cfg.model.code_dim:
        cfg.model.lookup_dim = max(1, cfg.model.code_dim // 2)  # a lookup must be below the code dimension
    cfg.validate()
    bits = cfg.model.code_bits
    note = ""
    if abs(bits - target) > 1e-9 and cfg.model.levels == 2:
        note = (f"{name}: bottom K = {cfg.model.codebook_size:,} and top K = {cfg.model.top_codes:,} make {bits:,.0f} "
                f"bits an image against {target:,.0f}: no two powers of two make exactly that")
    elif abs(bits - target) > 1e-9 and cfg.model.residual_depth > 1:
        note = (f"{name}: {cfg.model.residual_depth} codebooks of {cfg.model.stage_codebook_size} make "
                f"{cfg.model.codebook_size:,} codes, {bits:,.0f} bits an image against {target:,.0f}: no whole "
                f"number to the power {cfg.model.residual_depth} is exactly {m.codebook_size:,}")
    elif abs(bits - target) > 1e-9:
        note = (f"{name}: levels {levels_text(cfg.model.fsq_levels)} make {cfg.model.codebook_size:,} codes, {bits:,.0f} bits "
                f"an image against {target:,.0f}: no levels of 2 to {MAX_LEVEL} multiply to exactly "
                f"{m.codebook_size:,}")
    return Matched(name, cfg, bits, note)
