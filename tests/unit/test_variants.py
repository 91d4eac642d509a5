"""Matched sets of codebook variants: equal bits per image,
only the variant's settings changed."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest

from vqvae.errors import VQVAEError
from vqvae.presets import preset
from vqvae.training.variants import two_level_sizes, VARIANTS, bits_per_image, bundled_set, comparison_name, fsq_levels_for, matched_set, variant_slug


@pytest.mark.parametrize("size", [2**b for b in range(2, 15)] + [1000])
def test_fsq_levels_multiply_to_the_codebook_size_when_any_can(size):
    levels = fsq_levels_for(size)
    assert math.prod(levels) == size and all(2 <= level <= 8 for level in levels)


@pytest.mark.parametrize("name", ["mnist", "pokemon"])
def test_every_variant_matches_the_presets_bits_and_changes_only_its_settings(name):
    base = preset(name)
    names = list(VARIANTS)
    for group in (names[i:i + 4] for i in range(0, len(names), 4)):
        group = group if len(group) >= 2 else [*group, "ema"]
        for matched in matched_set(base, group):
            target = bits_per_image(base.model.codebook_size, base.model.grid_size)
            if matched.name == "two levels" and name == "mnist":  # 49 bottom and 16 top codes: 342 bits at best
                assert matched.bits == target - 1 and "no two powers of two make exactly" in matched.note
            elif matched.name.startswith("residual") and math.isqrt(base.model.codebook_size) ** 2 != base.model.codebook_size:
                side = math.isqrt(base.model.codebook_size)  # MNIST's K 128: 2 codebooks of 11; Pokémon's 2,048: of 45
                assert matched.config.model.codebook_size == side ** 2 and f"2 codebooks of {side} make" in matched.note
                assert matched.bits < target
            else:
                assert matched.bits == pytest.approx(target)
                assert not matched.note
            assert asdict(matched.config.train) == asdict(base.train)  # same data, seed, epochs
            changed = {k for k, v in asdict(matched.config.model).items() if v != getattr(base.model, k)}
            allowed = set(VARIANTS[matched.name]) | ({"fsq_levels", "codebook_size", "code_dim"}
                                                     if matched.name == "fsq" else set())
            allowed |= {"codebook_size", "top_codebook_size"} if matched.name == "two levels" else set()
            allowed |= {"code_dim"} if matched.name in ("LFQ", "BSQ") else set()  # a bit a dimension: log2 K
            allowed |= {"codebook_init"} if matched.name == "SimVQ" else set()  # its basis is random
            allowed |= {"codebook_size"} if matched.name.startswith("residual") else set()
            assert changed <= allowed, (matched.name, changed)


def test_two_levels_split_the_bits_evenly_when_they_can():
    assert two_level_sizes(2560, 16, 8) == (256, 256)  # 256 x 8 + 64 x 8 bits
    assert two_level_sizes(2816, 16, 8) == (512, 256)  # Pokémon: 256 x 9 + 64 x 8 bits
    assert two_level_sizes(343, 7, 4) == (64, 8)  # MNIST: 49 x 6 + 16 x 3 = 342 bits


def test_a_codebook_size_no_levels_can_reach_is_said():
    base = preset("mnist")
    base.model.codebook_size = 127
    notes = [m.note for m in matched_set(base, ["ema", "fsq"])]
    assert notes[0] == "" and "no levels of 2 to 8 multiply to exactly 127" in notes[1]


@pytest.mark.parametrize("names, said", [(["ema"], "2 to 4"), (["ema", "ema"], "repeats"),
                                         (["ema", "plain", "fsq", "ema, cosine", "ema, rotation trick"], "2 to 4"),
                                         (["ema", "vq-gan"], "unknown variant")])
def test_a_bad_set_is_refused_in_one_line(names, said):
    with pytest.raises(VQVAEError, match=said):
        matched_set(preset("mnist"), names)


def test_variant_names_become_model_names_and_the_bundled_set_is_found_by_them():
    assert [variant_slug(name) for name in ("ema", "ema, rotation trick", "ema, k-means init", "ema, low-dim lookup")] \
        == ["ema", "ema-rotation-trick", "ema-k-means-init", "ema-low-dim-lookup"]
    assert len({variant_slug(name) for name in VARIANTS}) == len(VARIANTS)  # no two variants share a model name
    assert comparison_name("mnist", "ema, rotation trick") == "mnist-compare-ema-rotation-trick"
    bundled = ["mnist-compare-fsq", "mnist-ema", "mnist-classifier", "mnist-plain", "mnist-compare-plain",
               "pokemon-ema", "pokemon-plain", "mnist-ema-prior"]
    assert bundled_set("mnist", bundled) == ["mnist-compare-plain", "mnist-compare-fsq"]  # in the order of VARIANTS
    assert bundled_set("pokemon", bundled) == ["pokemon-plain", "pokemon-ema"]  # no comparison: the pair
    assert bundled_set("fashion", bundled) == []
    assert len(bundled_set("mnist", [comparison_name("mnist", name) for name in VARIANTS])) == 4  # the page's most
