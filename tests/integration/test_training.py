"""Real training runs on the bundled MNIST: learning, the run folder, resuming, cancelling."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import REPO, TRAINED_RUN_CONFIG, read_jsonl, signal_when
from vqvae import VQVAE, ModelConfig, RunConfig, TrainConfig, load_vqvae
from vqvae.models.metrics import psnr
from vqvae.training.evaluate import evaluate
from vqvae.store.run_folder import RunFolder
from vqvae.training.vqvae_trainer import train

pytestmark = pytest.mark.slow

CPU = torch.device("cpu")
STEP_KEYS = {"kind", "epoch", "step", "loss", "recon", "codebook", "commitment", "perplexity", "codes_used", "dead_codes"}
EPOCH_KEYS = {"kind", "epoch", "step", "val_mse", "val_psnr", "perplexity", "codes_used", "dead_codes", "images_per_s",
              "seconds"}


# --- 6. a short real run -----------------------------------------------------------------


def test_short_run_lowers_held_out_mse(trained_run, mnist):
    cfg = TRAINED_RUN_CONFIG
    torch.manual_seed(cfg.train.seed)  # the untrained model train() starts from
    untrained = VQVAE(ModelConfig(**vars(cfg.model)))
    before = evaluate(untrained.to(CPU), mnist.val)

    epochs = RunFolder(trained_run).metrics("epoch")
    assert [e["epoch"] for e in epochs] == [1]
    for e in epochs:
        assert e["val_mse"] < 0.5 * before["val_mse"], (e["val_mse"], before["val_mse"])
        assert e["val_psnr"] == pytest.approx(10 * math.log10(1 / e["val_mse"]))
        assert e["val_psnr"] > before["val_psnr"] + 3

    # The epoch line is what evaluate says about the saved best checkpoint.
    best = load_vqvae(trained_run)
    again = evaluate(best.to(CPU), mnist.val)
    assert again["val_mse"] == pytest.approx(epochs[-1]["val_mse"], rel=1e-5)
    assert again["codes_used"] == epochs[-1]["codes_used"]


def test_run_folder_after_a_short_run(trained_run):
    cfg = TRAINED_RUN_CONFIG
    steps_per_epoch = math.ceil(9000 / cfg.train.batch_size)  # 71

    assert json.loads((trained_run / "config.json").read_text()) == cfg.to_dict()

    records = read_jsonl(trained_run / "metrics.jsonl")
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert len(steps) + len(epochs) == len(records)
    assert [r["step"] for r in steps] == [10, 20, 30, 40, 50, 60, 70, 71]
    # the last batch holds 40 images, not 128: its code counts are left out, not drawn as a collapse
    assert STEP_KEYS - steps[-1].keys() == {"perplexity", "codes_used"}
    for r in steps:
        assert STEP_KEYS - {"perplexity", "codes_used"} <= r.keys()
        assert r["epoch"] == 1
        assert all(math.isfinite(r[k]) for k in ("loss", "recon", "commitment"))
        assert r["codebook"] == 0.0  # EMA: no codebook loss
        assert r["loss"] == pytest.approx(r["recon"] + r["codebook"] + cfg.model.beta * r["commitment"], rel=1e-5)
    for r in steps[:-1]:
        assert STEP_KEYS <= r.keys()
        assert 1.0 <= r["perplexity"] <= cfg.model.codebook_size + 1e-3
        assert 1 <= r["codes_used"] <= cfg.model.codebook_size
    assert steps[-1]["recon"] < steps[0]["recon"]
    (epoch,) = epochs
    assert EPOCH_KEYS <= epoch.keys()
    assert epoch["epoch"] == 1 and epoch["step"] == steps_per_epoch
    assert 1.0 <= epoch["perplexity"] <= epoch["codes_used"] + 1e-3
    assert epoch["codes_used"] <= cfg.model.codebook_size
    assert epoch["images_per_s"] > 0 and epoch["seconds"] > 0
    usage = epoch["code_usage"]  # each code's held-out use: 1,000 digits x 49 positions
    assert len(usage) == cfg.model.codebook_size and sum(usage) == 1000 * 49
    assert sum(n > 0 for n in usage) == epoch["codes_used"]
    assert RunFolder(trained_run).metrics("epoch")[-1]["code_usage"] == usage  # read back, not taken for damage

    status = json.loads((trained_run / "status.json").read_text())
    assert status["state"] == "done"
    assert status["step"] == steps_per_epoch and status["epoch"] == 1
    assert status["total_steps"] == steps_per_epoch
    assert status["val_psnr"] == pytest.approx(epoch["val_psnr"])
    assert status["best_val_psnr"] == pytest.approx(psnr(epoch["val_mse"]))
    assert status["skipped_files"] == 0

    preview = trained_run / "previews" / "epoch_001.png"
    with Image.open(preview) as im:  # 16 originals over 16 reconstructions, 1 px padding
        assert im.format == "PNG"
        assert im.size == (16 * 29 + 1, 2 * 29 + 1)

    hub = {"config.json", "model.safetensors", "README.md"}
    best, last = trained_run / "checkpoints" / "best", trained_run / "checkpoints" / "last"
    assert hub <= {p.name for p in best.iterdir()}
    assert hub | {"optimizer.safetensors", "trainer_state.json"} <= {p.name for p in last.iterdir()}
    for folder in (best, last):
        saved = ModelConfig(**json.loads((folder / "config.json").read_text()))
        assert saved == cfg.model
        assert "vq-vae" in (folder / "README.md").read_text()
    state = json.loads((last / "trainer_state.json").read_text())
    assert (state["epoch"], state["batch"], state["step"]) == (1, 0, steps_per_epoch)
    # One epoch: the best checkpoint is the last one.
    assert load_file(str(best / "model.safetensors")).keys() == load_file(str(last / "model.safetensors")).keys()
    assert all(torch.equal(a, b) for a, b in zip(load_file(str(best / "model.safetensors")).values(),
                                                  load_file(str(last / "model.safetensors")).values()))


# --- 8. resuming -----------------------------------------------------------------------

# Plain codebook (its Adam moments must survive), data-seeded codes and dead-code restarts
# (random draws every few steps: the RNG state must survive too).
RESUME_CFG = RunConfig(
    ModelConfig(hidden=8, res_hidden=4, n_res_blocks=1, codebook_size=16, code_dim=8, quantizer="plain",
                codebook_init="data", restart_dead_codes=True, dead_code_window=5),
    TrainConfig(dataset="mnist", epochs=2, batch_size=256, lr=2e-3, device="cpu", log_every=1, seed=3),
)
SPE = math.ceil(9000 / 256)  # 36 steps per epoch


def resume_cfg(epochs: int) -> RunConfig:
    cfg = RunConfig.from_dict(RESUME_CFG.to_dict())
    cfg.train.epochs = epochs
    return cfg


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "uninterrupted"
    status = train(resume_cfg(2), out, progress=False)
    assert status["state"] == "done" and status["step"] == 2 * SPE
    return out


def weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / "last" / "model.safetensors"))


def assert_same_run(run, reference) -> None:
    """Same final weights, optimizer state and logged losses as the reference run."""
    a, b = weights(run), weights(reference)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs from the uninterrupted run"
    opt_a = load_file(str(run / "checkpoints" / "last" / "optimizer.safetensors"))
    opt_b = load_file(str(reference / "checkpoints" / "last" / "optimizer.safetensors"))
    assert opt_a.keys() == opt_b.keys()
    assert all(torch.equal(opt_a[k], opt_b[k]) for k in opt_a)
    assert RunFolder(run).metrics("step") == RunFolder(reference).metrics("step")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("images_per_s", "seconds")} for r in rs]  # noqa: E731 (timings)
    assert strip(RunFolder(run).metrics("epoch")) == strip(RunFolder(reference).metrics("epoch"))


def assert_steps_continue(run) -> None:
    steps = [r["step"] for r in RunFolder(run).metrics("step")]
    assert steps == list(range(1, 2 * SPE + 1))  # every step once, in order
    assert [r["epoch"] for r in RunFolder(run).metrics("step")] == [1] * SPE + [2] * SPE
    assert [(r["epoch"], r["step"]) for r in RunFolder(run).metrics("epoch")] == [(1, SPE), (2, 2 * SPE)]


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "one-epoch"
    status = train(resume_cfg(1), out, progress=False)
    assert status["state"] == "done" and status["step"] == SPE
    return out


def test_resume_after_an_epoch_equals_an_uninterrupted_run(tmp_path, one_epoch_run, uninterrupted):
    out = tmp_path / "run"
    shutil.copytree(one_epoch_run, out)
    status = train(resume_cfg(2), out, resume=True, progress=False)
    assert status["state"] == "done"
    assert status["step"] == 2 * SPE and status["epoch"] == 2
    assert json.loads((out / "status.json").read_text())["state"] == "done"
    assert_steps_continue(out)
    assert (out / "previews" / "epoch_002.png").is_file()
    assert_same_run(out, uninterrupted)


def test_resume_drops_lines_logged_after_the_last_checkpoint(tmp_path, one_epoch_run, uninterrupted):
    """A run killed outright during epoch 2 leaves step lines its checkpoint does not cover
    (and maybe a torn last line); the resumed run repeats those steps without duplicates."""
    out = tmp_path / "run"
    shutil.copytree(one_epoch_run, out)
    with open(out / "metrics.jsonl", "a") as f:
        for step in range(SPE + 1, SPE + 5):
            f.write(json.dumps({"kind": "step", "epoch": 2, "step": step, "loss": 123.0}) + "\n")
        f.write('{"kind": "step", "epoch": 2, "st')
    status = train(resume_cfg(2), out, resume=True, progress=False)
    assert status["state"] == "done" and status["step"] == 2 * SPE
    assert_steps_continue(out)
    assert_same_run(out, uninterrupted)


def test_resume_of_a_finished_run_does_nothing_more(tmp_path, uninterrupted):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    before = weights(out)
    status = train(resume_cfg(2), out, resume=True, progress=False)
    assert status["state"] == "done" and status["step"] == 2 * SPE
    after = weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert_steps_continue(out)


def test_sigterm_mid_epoch_then_resume(tmp_path, uninterrupted):
    config = tmp_path / "run.json"
    config.write_text(json.dumps(resume_cfg(2).to_dict()))
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vqvae", "train", "--config", str(config), "--out", str(out), "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        metrics = out / "metrics.jsonl"
        # SIGTERM is the dashboard's cancel
        signal_when(proc, lambda: metrics.exists() and '"kind": "step"' in metrics.read_text(), poll=0.01)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert stdout.startswith("cancelled:")
    assert "Traceback" not in stderr

    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "cancelled"
    state = json.loads((out / "checkpoints" / "last" / "trainer_state.json").read_text())
    stopped = state["step"]
    assert 1 <= stopped < SPE, "the run should have been cancelled during its first epoch"
    assert status["step"] == stopped
    assert (state["epoch"], state["batch"]) == (0, stopped)
    assert [r["step"] for r in RunFolder(out).metrics("step")] == list(range(1, stopped + 1))
    assert RunFolder(out).metrics("epoch") == []
    load_vqvae(out)  # the saved checkpoint loads

    status = train(resume_cfg(2), out, resume=True, progress=False)
    assert status["state"] == "done"
    assert status["step"] == 2 * SPE and status["epoch"] == 2
    assert_steps_continue(out)
    assert_same_run(out, uninterrupted)
