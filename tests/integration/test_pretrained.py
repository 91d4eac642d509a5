"""The bundled models in pretrained/ and scripts/train_all.py, which writes them."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict
import sys

import pytest

from conftest import REPO
from vqvae.config import RunConfig
from vqvae.presets import preset
from vqvae.store import hub
from vqvae.store.load import load_prior, load_vqvae
from vqvae.data.datasets import bundled_mnist, class_names, load_data
from vqvae.training.evaluate import evaluate
from vqvae.training.variants import bits_per_image, comparison_name, matched_variant
from vqvae.training.prior_trainer import PriorTrainer, encode_splits
from vqvae.store.provenance import dataset_of_prior, vqvae_of_prior
from vqvae.store.provenance import held_out_of_vqvae
from vqvae.store.run_folder import RunFolder

BUNDLED = sorted(p for p in (REPO / "pretrained").iterdir() if (p / "model.safetensors").is_file())
VQVAES = [REPO / "pretrained" / name for name in hub.bundled_models("vqvae")]
PRIORS = [REPO / "pretrained" / name for name in hub.bundled_models("prior")]
COMPARISON = [comparison_name("mnist", variant) for variant in ("plain", "ema", "ema, rotation trick", "fsq")]
REQUIRED = {"mnist-plain", "mnist-ema", "mnist-plain-prior", "mnist-ema-prior", "pokemon-plain", "pokemon-ema",
            "pokemon-ema-prior", "mnist-classifier", *COMPARISON, "mnist-vq2", "mnist-vq2-prior", "pokemon-vq2",
            "pokemon-vq2-prior"}


def card_number(folder, pattern: str) -> float:
    match = re.search(pattern, (folder / "README.md").read_text())
    assert match, f"{folder.name}'s model card states no {pattern}"
    return float(match.group(1))


def test_the_required_models_are_bundled_and_small():
    assert REQUIRED <= {p.name for p in BUNDLED}
    # (rglob does not enter the links a prior's vqvae/ copy is: the bundle keeps one copy of each model)
    total = sum(f.stat().st_size for f in (REPO / "pretrained").rglob("*") if f.is_file())
    assert total < 45 * 2**20  # with the two-level models and their two-level priors


@pytest.mark.parametrize("folder", VQVAES, ids=lambda p: p.name)
def test_a_bundled_vqvae_reaches_its_cards_psnr(folder):
    model = load_vqvae(folder)  # strict, safetensors only
    stated = card_number(folder, r"\| PSNR \| ([\d.]+) dB \|")
    data, _, stand_in = held_out_of_vqvae(folder, model)  # its own data set's held-out split
    assert stand_in is None
    result = evaluate(model, data.val)
    measured = result["val_psnr"]
    assert measured == pytest.approx(stated, abs=0.1)
    if folder.name == "pokemon-ema":  # the bundled colour model's bar, kept when it is retrained
        assert measured >= 24 and result["codes_used"] >= model.config.codebook_size / 2, result
    assert (folder / "reconstructions.png").is_file() and "](reconstructions.png)" in (folder / "README.md").read_text()


@pytest.mark.parametrize("folder", PRIORS, ids=lambda p: p.name)
def test_a_bundled_prior_reaches_its_cards_nll(folder):
    prior, vqvae = load_prior(folder), load_vqvae(vqvae_of_prior(folder))
    dataset = dataset_of_prior(folder)
    assert prior.config.n_classes == len(class_names(dataset))  # class-conditional: on the digits, the types
    stated = card_number(folder, r"\| this prior \| ([\d.]+) \|")
    c = vqvae.config
    codes = encode_splits(vqvae, load_data(dataset, c.in_channels, c.image_size))
    measured = PriorTrainer(prior, 1e-3, prior.embedding.weight.device).nll(codes.val, codes.val_labels, codes.val_top)
    assert measured == pytest.approx(stated, abs=0.02)
    assert measured < card_number(folder, r"\| unigram \(training code frequencies\) \| ([\d.]+) \|")
    assert (folder / "samples.png").is_file() and "](samples.png)" in (folder / "README.md").read_text()


def test_the_bundled_comparison_is_a_matched_set_that_carries_its_curves():
    """The Compare page opens on it, curves and all, before anyone trains."""
    base = preset("mnist")
    for name, variant in zip(COMPARISON, ("plain", "ema", "ema, rotation trick", "fsq")):
        folder = REPO / "pretrained" / name
        trained = RunConfig.from_dict(json.loads((folder / "training.json").read_text()))
        assert asdict(trained.model) == asdict(matched_variant(base, variant).config.model), name
        assert asdict(trained.train) == asdict(base.train), name  # same data, seed, epochs
        model = trained.model
        assert bits_per_image(model.codebook_size, model.grid_size) == bits_per_image(128, 7)  # equal code bits
        epochs = RunFolder(folder).metrics("epoch")
        assert [r["epoch"] for r in epochs] == list(range(1, base.train.epochs + 1)), name
        assert RunFolder(folder).metrics("step") and RunFolder(folder).training_seconds() > 0
        assert max(r["val_psnr"] for r in epochs) >= 22  # every variant reaches 22 dB in 20 epochs


def test_each_prior_brings_the_vqvae_of_the_same_name():
    assert {p.name for p in PRIORS} == {p.name for p in BUNDLED if p.name.endswith("-prior")}
    for prior in PRIORS:
        vqvae = REPO / "pretrained" / prior.name.removesuffix("-prior")
        assert (prior / "vqvae" / "model.safetensors").read_bytes() == (vqvae / "model.safetensors").read_bytes()
        assert (prior / "vqvae").is_symlink() and (prior / "vqvae").resolve() == vqvae.resolve()  # one copy


def test_train_all_quick_run_writes_loadable_models_and_cards(tmp_path):
    out, work = tmp_path / "pretrained", tmp_path / "runs"
    command = [sys.executable, "scripts/train_all.py", "--out", out, "--runs", work, "--only", "mnist-ema-prior",
               "--epochs-scale", "0.05", "--score-samples", "64", "--no-progress"]
    result = subprocess.run(list(map(str, command)), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "skipping fashion" in result.stderr  # no Fashion-MNIST here: said, not failed
    assert sorted(p.name for p in out.iterdir()) == ["mnist-ema", "mnist-ema-prior"]
    assert (out / "mnist-ema-prior" / "vqvae").resolve() == (out / "mnist-ema").resolve()  # linked, not copied
    vqvae, prior = load_vqvae(out / "mnist-ema"), load_prior(out / "mnist-ema-prior")
    assert prior.config.codebook_size == vqvae.config.codebook_size
    assert card_number(out / "mnist-ema", r"\| PSNR \| ([\d.]+) dB \|") > 10
    assert card_number(out / "mnist-ema-prior", r"\| this prior \| ([\d.]+) \|") > 0
    # a second run skips what is there
    again = subprocess.run(list(map(str, command)), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("already in") == 2


def test_hub_bundled_names_match_the_folder():
    assert set(hub.bundled_models()) == {p.name for p in BUNDLED}
    assert bundled_mnist().val.shape[0] == 1000


@pytest.mark.parametrize("dataset", ["mnist", "pokemon"])
def test_the_bundled_two_level_models_are_the_two_levels_variant_with_a_two_level_prior(dataset):
    folder = REPO / "pretrained" / f"{dataset}-vq2"
    trained = RunConfig.from_dict(json.loads((folder / "training.json").read_text()))
    assert asdict(trained.model) == asdict(matched_variant(preset(dataset), "two levels").config.model)
    assert trained.model.levels == 2 and load_vqvae(folder).config.code_bits <= preset(dataset).model.code_bits
    prior = load_prior(folder.with_name(f"{dataset}-vq2-prior"))
    assert (prior.config.levels, prior.config.top_codebook_size) == (2, trained.model.top_codes)


@pytest.mark.parametrize("name, prior_preset_name", [("mnist-ema-prior", "mnist"), ("mnist-plain-prior", "mnist-plain"),
                                                     ("pokemon-ema-prior", "pokemon")])
def test_a_bundled_prior_has_the_size_of_the_prior_preset_train_all_gives_it(name, prior_preset_name):
    from vqvae.presets import prior_preset

    size = ("channels", "head", "n_blocks", "first_kernel")
    wanted, got = asdict(prior_preset(prior_preset_name).prior), asdict(load_prior(name).config)
    assert {k: got[k] for k in size} == {k: wanted[k] for k in size}
