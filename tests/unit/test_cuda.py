"""The GPU path, run by scripts/gpu_check.py on a machine with a CUDA GPU
(`pytest -m cuda`); skipped elsewhere. Only torch-side modules: the GPU machines have no
Streamlit and no Plotly."""

from __future__ import annotations

import warnings

import pytest
import torch

from conftest import tiny_run_config, wait_for
from vqvae.config import PriorConfig, PriorRunConfig, PriorTrainConfig
from vqvae.dashboard.run_manager import RunManager
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import Sampling, sample, sample_naive
from vqvae.training.kinds.prior import PriorKind
from vqvae.training.kinds.vqvae import VQVAEKind
from vqvae.training.prior_trainer import train_prior
from vqvae.training.vqvae_trainer import train
from vqvae.store.run_folder import RunFolder

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda")


@pytest.mark.parametrize("graphs", [True, False], ids=["cuda graphs", "eager"])
def test_the_cached_sampler_on_the_gpu_draws_the_naive_codes_in_float32(graphs, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # float32 means float32 here
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(0)
    model = GatedPixelCNN(PriorConfig(codebook_size=128, channels=64, head=64, n_blocks=6, n_classes=10)).to(CUDA).eval()
    labels = torch.arange(8, device=CUDA) % 10
    grids = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a graph that cannot be captured warns and runs eagerly: not here
        # the cached sampler twice: the second grid replays the graph the first one captured
        for sampler, kwargs in ((sample_naive, {}), (sample, {"graphs": graphs}), (sample, {"graphs": graphs})):
            progress = None
            for progress in sampler(model, 8, 16, 16, Sampling(), torch.Generator(CUDA).manual_seed(1), labels, **kwargs):
                pass
            grids.append(progress.codes.cpu())
    assert torch.equal(grids[0], grids[1]) and torch.equal(grids[0], grids[2]) and len(grids[1].unique()) > 10


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_a_training_run_on_the_gpu_keeps_its_images_there_and_learns(tmp_path, channels_last):
    status = train(tiny_run_config(device="cuda", epochs=2, channels_last=channels_last), tmp_path / "run", progress=False)
    assert status["state"] == "done" and RunFolder(tmp_path / "run").status()["device"].startswith("cuda")
    epochs = RunFolder(tmp_path / "run").metrics("epoch")
    assert epochs[-1]["val_psnr"] > epochs[0]["val_psnr"] > 10 and all(r["seconds"] > 0 for r in epochs)


def strict_steps(monkeypatch, kind_class) -> list[int]:
    """Makes every training step of kind_class after the first raise on any read back from
    the GPU (.item(), nonzero, bincount, a bool of a tensor): each would stall the host
    until the queued work is done. Returns the list of the steps so checked."""
    steps = []
    original = kind_class.step

    def strict_step(self, batch, step):
        if step == 0:  # the first step may read the codebook's initialised flag, once
            return original(self, batch, step)
        torch.cuda.set_sync_debug_mode("error")
        try:
            stats = original(self, batch, step)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        steps.append(step)
        return stats

    monkeypatch.setattr(kind_class, "step", strict_step)
    return steps


@pytest.mark.parametrize("variant", [
    {"quantizer": "ema", "ema_bias_correction": True, "codebook_init": "kmeans", "restart_dead_codes": True},
    {"quantizer": "plain", "restart_dead_codes": True, "dead_code_window": 1, "augment": True, "cosine": True},
    {"quantizer": "fsq", "fsq_levels": (4, 4)},
], ids=["ema", "plain", "fsq"])
def test_training_steps_on_the_gpu_never_wait_for_it(tmp_path, monkeypatch, variant):
    steps = strict_steps(monkeypatch, VQVAEKind)
    status = train(tiny_run_config(device="cuda", epochs=1, log_every=50, **variant), tmp_path / "run", progress=False)
    assert status["state"] == "done", status.get("message")
    assert len(steps) > 50


def test_prior_training_steps_on_the_gpu_never_wait_for_it(tmp_path, monkeypatch):
    steps = strict_steps(monkeypatch, PriorKind)
    cfg = PriorRunConfig(PriorConfig(channels=16, head=16, n_blocks=3),
                         PriorTrainConfig(vqvae="mnist-ema", epochs=1, batch_size=64, device="cuda", log_every=50,
                                          cosine=True, samples=4))
    status = train_prior(cfg, tmp_path / "prior", progress=False)
    assert status["state"] == "done", status.get("message")
    assert len(steps) > 50


def test_the_run_manager_queues_gpu_runs_and_cancels_them(tmp_path):
    manager = RunManager(tmp_path)  # queues the "cuda" device: one run at a time on the GPU
    first = manager.start(tiny_run_config(device="cuda", epochs=200), name="first")
    assert wait_for(lambda: RunFolder(first).status().get("state") == "running", timeout=120)
    second = manager.start(tiny_run_config(device="cuda", epochs=1), name="second")
    assert wait_for(lambda: manager.info(second).state == "queued", timeout=60)
    third = manager.start(tiny_run_config(device="cuda", epochs=1), name="third")
    manager.cancel(third)
    assert manager.wait(third).state == "cancelled"
    manager.cancel(first)
    assert manager.wait(first).state == "cancelled"
    assert manager.wait(second, timeout=300).state == "done"


def test_the_cached_sampler_captures_its_graph_under_bf16_autocast_too():
    torch.manual_seed(0)
    model = GatedPixelCNN(PriorConfig(codebook_size=128, channels=64, head=64, n_blocks=6)).to(CUDA).eval()
    with warnings.catch_warnings(), torch.autocast("cuda", dtype=torch.bfloat16):
        warnings.simplefilter("error")
        for progress in sample(model, 4, 7, 7, Sampling(), torch.Generator(CUDA).manual_seed(1)):
            pass
    codes = progress.codes
    assert codes.shape == (4, 7, 7) and 0 <= int(codes.min()) and int(codes.max()) < 128 and len(codes.unique()) > 5
