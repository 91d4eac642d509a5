"""Where models come from: local folders, bundled names, the Hub through its cache, the
fallback when the Hub cannot be had, exporting and pushing."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hub_constants
from conftest import small_prior_config

from fake_hub import fake_hub, repo_files
from vqvae import VQVAEError
from vqvae.store import hub
from vqvae.store.load import load_prior, load_vqvae
from vqvae.store.provenance import dataset_of_prior, vqvae_of_prior
from vqvae.training.prior_trainer import train_prior
from vqvae.store.provenance import dataset_of_vqvae
from vqvae.store import export
from vqvae.store.run_folder import RunFolder


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained_run):
    """A bundled-style folder holding a VQ-VAE and a prior exported from real runs."""
    root = tmp_path_factory.mktemp("pretrained")
    prior_run = tmp_path_factory.mktemp("prior-runs") / "prior"
    train_prior(small_prior_config(trained_run, epochs=1), prior_run, progress=False)
    export.export_folder(trained_run, root / "mnist-ema")
    export.export_folder(prior_run, root / "mnist-ema-prior")
    return root


@pytest.fixture
def bundled(exported, monkeypatch):
    monkeypatch.setattr(hub, "BUNDLED_DIR", exported)
    return exported


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def test_exported_folders_stand_alone(exported, trained_run):
    vq = exported / "mnist-ema"
    assert sorted(p.name for p in vq.iterdir()) == ["README.md", "config.json", "metrics.jsonl", "model.safetensors",
                                                    "reconstructions.png", "training.json"]
    # its training curves and time travel with it: the Compare page draws a bundled model's as a run's
    epochs = RunFolder(vq).metrics("epoch")
    assert epochs and epochs == RunFolder(trained_run).metrics("epoch")
    assert RunFolder(vq).training_seconds() == pytest.approx(sum(r["seconds"] for r in epochs)) and RunFolder(vq).training_seconds() > 0
    assert "![reconstructions.png](reconstructions.png)" in (vq / "README.md").read_text()
    # the data set travels with the model: the pages show its held-out images, the Sample page its class names
    assert dataset_of_vqvae(vq) == "mnist" and dataset_of_prior(exported / "mnist-ema-prior") == "mnist"
    prior = exported / "mnist-ema-prior"
    assert (prior / "samples.png").is_file() and (prior / "vqvae" / "model.safetensors").is_file()
    assert "held-out NLL" in (prior / "README.md").read_text()
    assert vqvae_of_prior(prior) == prior / "vqvae"
    assert load_prior(prior).config.codebook_size == load_vqvae(prior / "vqvae").config.codebook_size


def test_paths_and_bundled_names(bundled, trained_run):
    assert hub.locate(trained_run) == hub.Located(trained_run, "local")
    found = hub.locate("mnist-ema")
    assert found.source == "bundled" and found.path == bundled / "mnist-ema"
    assert hub.bundled_models() == ["mnist-ema", "mnist-ema-prior"]
    assert load_vqvae("mnist-ema").config.codebook_size == 32
    with pytest.raises(VQVAEError, match="bundled name"):
        hub.locate("no such model")


@pytest.mark.parametrize("ref, parsed", [
    ("owner/name", ("owner/name", "", None)),
    ("owner/name/mnist-ema", ("owner/name", "mnist-ema", None)),
    ("owner/name/a/b@v1.0", ("owner/name", "a/b", "v1.0")),
    ("owner", None), ("/abs/path", None), ("owner/name@", None),
])
def test_hub_references(ref, parsed):
    assert hub.parse_hub_ref(ref) == parsed


def test_the_hub_fills_its_cache_and_offline_reads_it_back(bundled, fresh_cache, monkeypatch):
    files = {**repo_files(bundled / "mnist-ema", "mnist-ema"), **repo_files(bundled / "mnist-ema-prior", "mnist-ema-prior")}
    with fake_hub({"lab/models": files}):
        found = hub.locate("lab/models/mnist-ema-prior", "prior")
    assert found.source == "hub" and str(found.path).startswith(str(fresh_cache))
    assert "models--lab--models" in str(found.path)  # the Hub's own cache layout
    online = load_prior(found.path)

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = hub.locate("lab/models/mnist-ema-prior", "prior")
    assert cached.source == "hub cache" and cached.path == found.path and not cached.notice
    offline = load_prior(cached.path)
    for a, b in zip(online.state_dict().values(), offline.state_dict().values()):
        assert torch.equal(a, b)
    assert load_vqvae(vqvae_of_prior(cached.path)).config.codebook_size == 32  # the prior brings its VQ-VAE


def test_offline_and_not_cached_falls_back_to_the_bundled_model(bundled, fresh_cache, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    found = hub.locate("lab/never-downloaded", "vqvae")
    assert found.source == "bundled fallback" and found.path == bundled / "mnist-ema"
    assert "offline" in found.notice and "bundled mnist-ema" in found.notice and "\n" not in found.notice


def test_an_unreachable_endpoint_falls_back(bundled, fresh_cache):
    # conftest points HF_ENDPOINT at a closed port
    found = hub.locate("lab/models/mnist-ema-prior", "prior")
    assert found.source == "bundled fallback" and found.path == bundled / "mnist-ema-prior"


def test_a_silent_endpoint_is_given_up_after_the_probe(bundled, fresh_cache, monkeypatch):
    """A server that accepts connections and never answers must not hang the loader."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setattr(hub, "PROBE_TIMEOUT_S", 0.5)
    try:
        found = hub.locate("lab/models/mnist-ema", "vqvae")
    finally:
        server.close()
    assert found.source == "bundled fallback" and "did not give lab/models" in found.notice


def test_training_never_falls_back_to_another_model(bundled, fresh_cache):
    with pytest.raises(VQVAEError, match="connect to the Hub or pass a local folder"):
        hub.locate("lab/models/mnist-ema", "vqvae", fallback=False)
    with pytest.raises(VQVAEError):
        load_vqvae("lab/models/mnist-ema")


def test_the_default_model_is_a_setting(monkeypatch):
    assert hub.default_model("vqvae") == "mnist-ema"
    monkeypatch.setenv(hub.HUB_REPO_ENV, "lab/models")
    assert hub.default_model("prior") == "lab/models/mnist-ema-prior"


def test_push_needs_a_token(exported):
    with pytest.raises(VQVAEError, match="HF_TOKEN"):
        hub.push(exported / "mnist-ema", "lab/models")


def test_push_uploads_the_folder_with_its_card(exported, monkeypatch, tmp_path):
    calls = {}

    def upload_folder(self, *, repo_id, folder_path, path_in_repo=None, commit_message=None, **_):
        calls["files"] = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
        calls["where"] = (repo_id, path_in_repo)

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", lambda self, repo_id, **kw: calls.setdefault("created", (repo_id, kw)))
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", upload_folder)
    url = hub.push(exported / "mnist-ema-prior", "lab/models", "mnist-ema-prior", token="hf_test")
    assert calls["created"] == ("lab/models", {"private": False, "exist_ok": True})
    assert calls["where"] == ("lab/models", "mnist-ema-prior")
    assert calls["files"] == ["README.md", "config.json", "metrics.jsonl", "model.safetensors", "samples.png", "training.json",
                              "vqvae/README.md", "vqvae/config.json", "vqvae/model.safetensors"]
    assert url.endswith("lab/models/tree/main/mnist-ema-prior")
    with pytest.raises(VQVAEError, match="not a Hub repo id"):
        hub.push(exported / "mnist-ema", "lab/models/sub", token="hf_test")


def test_push_cli_without_a_token_is_one_line(cli, trained_run):
    result = cli("push", trained_run, "lab/models")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "HF_TOKEN" in result.stderr
