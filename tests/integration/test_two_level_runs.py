"""A two-level VQ-VAE and its two priors trained end to end, as a user would through the CLI:
train, eval, train-prior, sample, score."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from conftest import read_jsonl, small_prior_config, tiny_run_config
from vqvae.models.sampling import sample_images
from vqvae.store import layout
from vqvae.store.codes import load_codes
from vqvae.store.load import load_prior, load_vqvae
from vqvae.training.prior_trainer import train_prior
from vqvae.training.vqvae_trainer import train


@pytest.fixture(scope="module")
def two_level_run(tmp_path_factory):
    """One epoch of a tiny two-level model on the bundled MNIST (bottom 7 x 7, top 4 x 4)."""
    out = tmp_path_factory.mktemp("two-levels") / "vq2"
    status = train(tiny_run_config(levels=2, top_codebook_size=8, epochs=1), out, progress=False)
    assert status["state"] == "done", status
    return out


@pytest.fixture(scope="module")
def two_level_prior(two_level_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("two-levels") / "vq2-prior"
    status = train_prior(small_prior_config(two_level_run, epochs=2, shift=0), out, progress=False)
    assert status["state"] == "done", status
    return out


def test_the_prior_learns_both_levels(two_level_prior):
    prior = load_prior(two_level_prior)
    assert prior.config.levels == 2 and prior.config.top_codebook_size == 8 and prior.config.n_classes == 10
    codes = load_codes(two_level_prior / layout.CODES)
    assert codes.train.shape[1:] == (7, 7) and codes.train_top.shape == (len(codes.train), 4, 4)
    epochs = [r for r in read_jsonl(two_level_prior / layout.METRICS) if r["kind"] == "epoch"]
    last = epochs[-1]
    # the baselines weigh each level's codes by their count: 16 top codes of K 8, 49 bottom of K 16
    assert last["uniform_nll"] == pytest.approx((16 * math.log(8) + 49 * math.log(16)) / 65)
    assert last["val_nll"] < last["unigram_nll"] < last["uniform_nll"]
    assert last["val_bits_per_image"] == pytest.approx(last["val_bits_per_code"] * 65)
    card = (layout.checkpoint_dir(two_level_prior, "best") / "README.md").read_text()
    assert "Two-level" in card and "bits per image" in card


def test_samples_decode_through_both_levels(two_level_prior):
    prior = load_prior(two_level_prior)
    vqvae = load_vqvae(two_level_prior / layout.VQVAE_COPY)
    images = sample_images(prior, vqvae, 4, seed=2)
    assert images.shape == (4, 1, 28, 28)
    assert torch.equal(images, sample_images(prior, vqvae, 4, seed=2))


def test_the_cli_evaluates_samples_and_scores_a_two_level_model(cli_here, two_level_run, two_level_prior, tmp_path):
    result = cli_here("eval", "--model", two_level_run)
    assert result.returncode == 0, result.stderr
    assert "top level: perplexity" in result.stdout
    result = cli_here("sample", "--prior", two_level_prior, "--n", 10, "--out", tmp_path / "grid.png", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "grid.png").size[0] > 28
    result = cli_here("score", "--prior", two_level_prior, "--n", 20, "--json", tmp_path / "score.json")
    assert result.returncode == 0, result.stderr
    scored = json.loads((tmp_path / "score.json").read_text())
    assert 0 <= scored["label_accuracy"] <= 1 and scored["reconstruction_frechet_distance"] >= 0


def test_a_one_level_prior_with_a_two_level_model_is_refused(cli_here, two_level_run, two_level_prior, trained_run,
                                                            tmp_path):
    result = cli_here("sample", "--prior", two_level_prior, "--vqvae", trained_run, "--out", tmp_path / "g.png")
    assert result.returncode == 2 and "level" in result.stderr and "Traceback" not in result.stderr
