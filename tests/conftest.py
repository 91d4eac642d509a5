"""Shared fixtures for the vqvae test suite.

The machine running the suite may have only a couple of busy CPU cores, so every test
(and every CLI subprocess) runs PyTorch single-threaded: on a loaded 2-core box, two
intra-op threads make the tiny models here an order of magnitude slower. It also makes
in-process and subprocess runs numerically identical, which the resume tests rely on.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Before torch is imported anywhere: one intra-op thread here and in every subprocess.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
# No torchvision copies of any data set: "mnist" always means the bundled split.
_EMPTY_DATA_ROOT = tempfile.mkdtemp(prefix="vqvae-tests-empty-data-")
os.environ["VQVAE_DATA"] = _EMPTY_DATA_ROOT
# Sample-quality scores kept for the whole session: a page that shows the bundled prior's
# score computes it once, not in every test (each has its own runs folder).
_SCORES = tempfile.mkdtemp(prefix="vqvae-tests-scores-")
os.environ["VQVAE_SCORES"] = _SCORES

# Hugging Face: a private, empty cache and home (no saved token), and an endpoint that
# refuses at once, so no test ever reaches the network; tests that want a Hub serve one
# in-process (tests/fake_hub.py).
_HF_HOME = tempfile.mkdtemp(prefix="vqvae-tests-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_CACHE"] = os.path.join(_HF_HOME, "hub")
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: connection refused
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "VQVAE_HUB_REPO"):
    os.environ.pop(_name, None)

REPO = Path(__file__).resolve().parents[1]

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from vqvae import ModelConfig, PriorConfig, PriorRunConfig, PriorTrainConfig, RunConfig, TrainConfig  # noqa: E402
from vqvae.data.datasets import bundled_mnist  # noqa: E402
from vqvae.training.vqvae_trainer import train


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_EMPTY_DATA_ROOT, ignore_errors=True)
    shutil.rmtree(_SCORES, ignore_errors=True)
    shutil.rmtree(_HF_HOME, ignore_errors=True)


def tiny_model_config(**overrides) -> ModelConfig:
    """The smallest model that still has every part (28x28 grayscale, 7x7 codes)."""
    settings = dict(hidden=16, res_hidden=8, codebook_size=16, code_dim=8)
    settings.update(overrides)
    return ModelConfig(**settings)


def small_prior_config(vqvae, epochs=2, **train) -> PriorRunConfig:
    settings = dict(vqvae=str(vqvae), epochs=epochs, batch_size=128, lr=3e-3, device="cpu", log_every=10, samples=10)
    settings.update(train)
    return PriorRunConfig(PriorConfig(channels=16, head=16, n_blocks=3), PriorTrainConfig(**settings))


def uploader(app, label: str):
    """An AppTest's file uploader with this label (its key changes after each file: it empties itself)."""
    return next(u for u in app.file_uploader if u.label == label)


@pytest.fixture
def tiny_presets(monkeypatch):
    """The MNIST presets at a tiny width (K, the data and the rest unchanged): a page test
    starts real background runs through the same page, run manager and CLI, in seconds."""
    from vqvae import presets

    vqvae_preset = copy.deepcopy(presets.PRESETS["mnist"])
    vqvae_preset.model.hidden, vqvae_preset.model.res_hidden = 16, 8
    monkeypatch.setitem(presets.PRESETS, "mnist", vqvae_preset)
    prior_preset = copy.deepcopy(presets.PRIOR_PRESETS["mnist"])
    prior_preset.prior.channels, prior_preset.prior.head, prior_preset.prior.n_blocks = 8, 8, 2
    prior_preset.train.shift = 0
    monkeypatch.setitem(presets.PRIOR_PRESETS, "mnist", prior_preset)


def tiny_run_config(**changes) -> RunConfig:
    """The mnist preset at the smallest size (width 16, K 16, D 4) on the CPU, a step line
    every 5 steps, with `changes` (ModelConfig or TrainConfig field names)."""
    from vqvae.presets import preset

    cfg = preset("mnist")
    cfg.model.hidden, cfg.model.codebook_size, cfg.model.code_dim = 16, 16, 4
    cfg.train.device, cfg.train.log_every = "cpu", 5
    for name, value in changes.items():
        setattr(cfg.model if hasattr(cfg.model, name) else cfg.train, name, value)
    return cfg


@pytest.fixture
def tiny_config():
    """A factory: tiny_config(quantizer="plain", arch="patch", ...) -> ModelConfig."""
    return tiny_model_config


@pytest.fixture(scope="session")
def mnist():
    """The bundled MNIST split, loaded once."""
    return bundled_mnist()


@pytest.fixture(scope="session")
def mnist_batch(mnist):
    """32 training images as float [32, 1, 28, 28] in [0, 1]."""
    return mnist.train[:32].float() / 255


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "vqvae", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=os.environ.copy(),
    )


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture
def cli_here(capsys, monkeypatch):
    """cli_here(*args) -> CompletedProcess: the command line run in this process by main(),
    from the repository root, with its exit status and what it printed (an exception escaping
    main() fails the test). No interpreter to start and no torch to import (seconds each):
    for the many refusals that end before any work; the real process is run_cli's to test."""
    from vqvae.cli import main

    monkeypatch.chdir(REPO)

    def run(*args) -> subprocess.CompletedProcess:
        capsys.readouterr()  # what earlier steps printed is not this command's
        argv = [str(a) for a in args]
        status = main(argv)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["python", "-m", "vqvae", *argv], status, out, err)

    return run


@pytest.fixture(scope="session")
def tiny_image_folder(tmp_path_factory, mnist) -> Path:
    """20 MNIST digits as PNG files (18 train / 2 held-out for the folder loader)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("digits")
    for i in range(20):
        Image.fromarray(mnist.train[i, 0].numpy()).save(folder / f"digit_{i:02d}.png")
    return folder


def tiny_folder_run_config(folder: Path, epochs: int = 1) -> RunConfig:
    return RunConfig(
        tiny_model_config(),
        TrainConfig(dataset="folder", data=str(folder), epochs=epochs, batch_size=8, device="cpu", log_every=1),
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_image_folder) -> Path:
    """A finished one-epoch run on the 20-image folder (a real run folder, in a second)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    status = train(tiny_folder_run_config(tiny_image_folder), out, progress=False)
    assert status["state"] == "done"
    return out


# The real-training run of test_training.py, shared with the checkpoint tests.
TRAINED_RUN_CONFIG = RunConfig(
    ModelConfig(hidden=32, res_hidden=16, codebook_size=32, code_dim=16, quantizer="ema"),
    TrainConfig(dataset="mnist", epochs=1, batch_size=128, lr=2e-3, device="cpu", log_every=10, seed=0),
)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One epoch on the bundled MNIST with a small conv model (a few seconds)."""
    out = tmp_path_factory.mktemp("runs") / "mnist-small"
    cfg = RunConfig.from_dict(TRAINED_RUN_CONFIG.to_dict())
    status = train(cfg, out, progress=False)
    assert status["state"] == "done", status
    return out


def signal_when(proc: subprocess.Popen, ready, sig: int = signal.SIGTERM, poll: float = 0.05) -> bool:
    """Poll ready() while proc runs and send it sig once ready() holds; whether it was sent."""
    while proc.poll() is None:
        if ready():
            proc.send_signal(sig)
            return True
        time.sleep(poll)
    return False


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def random_images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g)


def wait_for(predicate, timeout: float = 300.0) -> bool:
    """Poll predicate every 0.1 s until it holds (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def dashboard_on(monkeypatch, runs: Path, model: str, page: str | None = None):
    """The dashboard in AppTest with `model` active (and `page` open), its runs folder `runs`."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VQVAE_RUNS", str(runs))
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    app.run()
    app.sidebar.selectbox(key="active_vqvae_widget").set_value(model).run()
    if page:
        app.switch_page(f"pages/{page}.py").run()
    assert not app.exception, app.exception
    return app

