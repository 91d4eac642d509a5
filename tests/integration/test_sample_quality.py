"""The sample-quality score: the bundled classifier, the Fréchet distance,
`python -m vqvae score`, and the dashboard's cached background scores."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from vqvae.store import hub
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.data.datasets import bundled_mnist
from vqvae.errors import VQVAEError
from vqvae.training.classifier_trainer import accuracy, export_classifier, train_classifier
from vqvae.training.sample_quality import frechet_distance, score_models

CLASSIFIER = hub.BUNDLED_DIR / "mnist-classifier"
SCORE_KEYS = {"label_accuracy", "frechet_distance", "reconstruction_label_accuracy", "reconstruction_frechet_distance",
              "classifier_accuracy", "n", "temperature"}


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "vqvae", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_the_bundled_classifier_reaches_98_percent_on_the_held_out_split_as_its_card_says():
    model = load_classifier("mnist-classifier")  # strict, safetensors only
    data = bundled_mnist()
    measured = accuracy(model, data.val, data.val_labels)
    assert measured >= 0.98
    stated = re.search(r"\| held-out \| 1,000 \| ([\d.]+) % \|", (CLASSIFIER / "README.md").read_text())
    assert stated and float(stated.group(1)) == pytest.approx(100 * measured, abs=0.05)


def test_the_classifier_is_not_offered_as_a_vqvae_or_a_prior():
    assert "mnist-classifier" in hub.bundled_models()
    assert "mnist-classifier" not in hub.bundled_models("vqvae") + hub.bundled_models("prior")
    assert hub.bundled_models("classifier") == ["mnist-classifier"]
    with pytest.raises(VQVAEError, match="holds a classifier, not a VQ-VAE"):
        load_vqvae("mnist-classifier")
    with pytest.raises(VQVAEError, match="holds a PixelCNN prior, not a classifier"):
        load_classifier("mnist-ema-prior")


def test_a_short_training_learns_and_exports_a_loadable_classifier(tmp_path):
    data = bundled_mnist()
    data.train, data.train_labels = data.train[:1500], data.train_labels[:1500]
    model, metrics = train_classifier(data, "mnist", epochs=1, progress=False)
    assert metrics["val_accuracy"] > 0.5  # ten classes: chance is 0.1
    export_classifier(model, metrics, data.name, tmp_path / "clf")
    again = load_classifier(tmp_path / "clf")
    images = data.val[:64].float() / 255
    assert torch.equal(again(images).argmax(-1), model(images).argmax(-1))
    assert "held-out" in (tmp_path / "clf" / "README.md").read_text()


def test_frechet_distance_is_zero_for_the_same_set_and_the_closed_form_in_one_dimension():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 6, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    x, y = a[:, :1], 3 * torch.randn(400, 1, generator=g, dtype=torch.float64) + 2
    mu, sd = (x.mean() - y.mean()) ** 2, (x.std() - y.std()) ** 2  # (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2
    assert frechet_distance(x, y) == pytest.approx(float(mu + sd), rel=1e-9)


def test_frechet_distance_matches_the_trace_of_the_square_root_of_the_product():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))  # correlated, covariances that do not commute
    b = rng.normal(size=(250, 5)) @ rng.normal(size=(5, 5)) + 0.5
    ca, cb = np.cov(a.T), np.cov(b.T)
    # tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of S_a S_b (real, >= 0)
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(ca @ cb).real, 0, None)).sum()
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * root_trace
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(expected, rel=1e-7)


def test_score_prints_and_writes_every_number_of_a_score(cli_here, tmp_path):
    out = tmp_path / "nested" / "score.json"
    result = cli("score", "--prior", "mnist-ema-prior", "--n", 30, "--json", out)
    assert result.returncode == 0, result.stderr
    assert "label accuracy" in result.stdout and "reconstructions" in result.stdout
    got = json.loads(out.read_text())
    assert SCORE_KEYS <= set(got)
    assert got["n"] == 30 and got["temperature"] == 1.0
    assert got["classifier_accuracy"] >= 0.98  # the judge on real held-out digits
    assert got["reconstruction_label_accuracy"] >= 0.95  # the VQ-VAE keeps the digits readable
    assert 0.5 < got["label_accuracy"] <= 1 and got["frechet_distance"] > 0
    # the same seed draws the same samples: a second score agrees
    again = cli_here("score", "--prior", "mnist-ema-prior", "--n", 30, "--json", tmp_path / "again.json")
    assert again.returncode == 0 and json.loads((tmp_path / "again.json").read_text())["label_accuracy"] == got["label_accuracy"]


def test_a_hotter_prior_scores_worse():
    folder = hub.BUNDLED_DIR / "mnist-ema-prior"
    prior, vqvae, classifier = load_prior(folder), load_vqvae(folder / "vqvae"), load_classifier("mnist-classifier")
    cool = score_models(prior, vqvae, classifier, n=100, temperature=0.7)
    hot = score_models(prior, vqvae, classifier, n=100, temperature=3.0)
    assert cool["label_accuracy"] > hot["label_accuracy"] and cool["frechet_distance"] < hot["frechet_distance"]


@pytest.mark.parametrize("args, said", [
    (("--prior", "mnist-ema-prior", "--n", 0), "--n must be at least 1"),
    (("--prior", "mnist-ema-prior", "--n", -5), "--n must be at least 1"),
    (("--prior", "pokemon-ema-prior", "--n", 10), "pick an MNIST prior"),
    (("--prior", "mnist-ema", "--n", 10), "holds a VQ-VAE, not a prior"),
    (("--prior", "mnist-ema-prior", "--temperature", 0), "temperature must be positive"),
    (("--prior", "mnist-ema-prior", "--json", "out.txt"), "give it a .json name"),
], ids=["n zero", "n negative", "pokemon prior", "a vqvae", "temperature", "json name"])
def test_score_refuses_bad_input_in_one_line(cli_here, args, said):
    result = cli_here("score", *args)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unconditional_prior_is_refused_by_the_score(tmp_path):
    from vqvae.config import PriorConfig
    from vqvae.models.pixelcnn import GatedPixelCNN

    vqvae = load_vqvae("mnist-ema")
    prior = GatedPixelCNN(PriorConfig(codebook_size=vqvae.config.codebook_size, channels=8, head=8, n_blocks=2))
    with pytest.raises(VQVAEError, match="not class-conditional"):
        score_models(prior, vqvae, load_classifier("mnist-classifier"), n=10)


def test_the_dashboard_keeps_a_score_and_computes_a_damaged_one_again(tmp_path, monkeypatch):
    from vqvae.dashboard import scores
    from vqvae.dashboard.scores import read_score, score_file, score_job, scorable, start_scoring

    monkeypatch.setitem(scores.SETTINGS, "n", 100)  # the keeping is tested, not the standard score's size

    folder = tmp_path / "mnist-ema-prior"
    shutil.copytree(hub.BUNDLED_DIR / "mnist-ema-prior", folder)
    assert scorable(folder) is None and "pick an MNIST prior" in scorable(hub.BUNDLED_DIR / "pokemon-ema-prior")
    path = score_file(folder, tmp_path / "scores")
    assert read_score(path) is None
    job = start_scoring(folder, path, "cpu")
    assert start_scoring(folder, path, "cpu") is job  # a second page asking starts nothing new
    assert job.wait(300) and job.state == "done", job.message
    kept = read_score(path)
    assert SCORE_KEYS <= set(kept) and score_job(path) is job
    path.write_text('{"label_accuracy": "high"}')  # damaged (by hand, or a disk error)
    assert read_score(path) is None
    # retrained weights are a different prior: a different file
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    assert score_file(folder, tmp_path / "scores") != path


@pytest.mark.parametrize("name", ["mnist-ema-prior", "mnist-plain-prior"])
def test_a_bundled_mnist_prior_scores_what_its_card_says(name):
    """Each card's score is measured again; the EMA prior keeps its bar when it is
    retrained: at temperature 1 and n 1000 the classifier names the asked digit at least 95 %
    of the time, and the samples' Fréchet distance is at most 3x the reconstructions'."""
    folder = hub.BUNDLED_DIR / name
    got = score_models(load_prior(folder), load_vqvae(folder / "vqvae"), load_classifier("mnist-classifier"), n=1000)
    card = (folder / "README.md").read_text()
    stated = re.search(r"\| samples \| ([\d.]+) \| ([\d.]+) \|", card)
    assert stated, f"{name}'s card has no sample-quality table"
    assert float(stated.group(1)) == pytest.approx(got["label_accuracy"], abs=0.002)
    assert float(stated.group(2)) == pytest.approx(got["frechet_distance"], abs=0.05)
    if name == "mnist-ema-prior":
        assert got["label_accuracy"] >= 0.95, got
        assert got["frechet_distance"] <= 3 * got["reconstruction_frechet_distance"], got
