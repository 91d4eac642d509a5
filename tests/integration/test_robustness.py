"""What keeps a run folder sound when things go wrong: a second job, changed data, a
checkpoint that no longer matches its config, bf16 encoder outputs, a Ctrl-C."""

import json
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from conftest import REPO, folder_snapshot, signal_when, tiny_folder_run_config
from vqvae import VQVAEError, files
from vqvae.models.quantize import EMAVectorQuantizer, VectorQuantizer
from vqvae.store import claim
from vqvae.training.vqvae_trainer import train
from vqvae.store.run_folder import RunFolder


def test_a_second_job_on_the_same_folder_is_refused(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = folder_snapshot(run)
    with claim.exclusive(run):  # as if a job were writing it
        with pytest.raises(VQVAEError, match="another training job"):
            train(None, run, resume=True, progress=False, epochs=2)
    after = folder_snapshot(run)
    after.pop(".lock", None), before.pop(".lock", None)
    assert after == before


def test_resume_refuses_when_the_data_changed(tmp_path, tiny_run, tiny_image_folder):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    more = tmp_path / "more"
    shutil.copytree(tiny_image_folder, more)
    shutil.copy(more / "digit_00.png", more / "extra_00.png")
    shutil.copy(more / "digit_01.png", more / "extra_01.png")
    cfg = json.loads((run / "config.json").read_text())
    cfg["train"]["data"] = str(more)
    files.atomic_write_json(run / "config.json", cfg)
    with pytest.raises(VQVAEError, match="restore that data"):
        train(None, run, resume=True, progress=False, epochs=2)


def test_resume_refuses_a_checkpoint_that_no_longer_matches_the_config(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["hidden"] = 24
    files.atomic_write_json(run / "config.json", cfg)
    with pytest.raises(VQVAEError, match="does not match"):
        train(None, run, resume=True, progress=False, epochs=2)


def test_resume_with_negative_epochs_is_refused(tmp_path, tiny_run):
    with pytest.raises(VQVAEError, match="epochs must be 0 or more"):
        train(None, tiny_run, resume=True, progress=False, epochs=-1)


def test_resume_writes_the_extended_plan_to_the_config(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    status = train(None, run, resume=True, progress=False, epochs=2)
    assert status["state"] == "done" and status["epoch"] == 2
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2


def test_out_that_is_a_file_gives_one_line(tmp_path, tiny_image_folder):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(VQVAEError, match="cannot create run folder"):
        train(tiny_folder_run_config(tiny_image_folder), blocker / "run", progress=False)


def test_wrongly_typed_config_file_gives_one_line(cli, tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"model": {}, "train": {"epochs": "20"}}))
    result = cli("train", "--config", config, "--out", tmp_path / "run", "--no-progress")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("cls", [VectorQuantizer, EMAVectorQuantizer])
def test_data_init_accepts_bf16_encoder_outputs(cls):
    """Under CUDA autocast the encoder hands the quantizer bf16; the codebook stays float32."""
    q = cls(16, 4, codebook_init="data").train()
    z = torch.randn(2, 4, 5, 5).to(torch.bfloat16)
    q(z)
    assert q.codebook.dtype == torch.float32
    assert bool(q.initialized)


@pytest.mark.slow
def test_ctrl_c_saves_between_steps_and_resume_finishes(tmp_path, tiny_image_folder):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "vqvae", "train", "--dataset", "folder", "--data", str(tiny_image_folder),
           "--hidden", "16", "--codebook-size", "16", "--code-dim", "8", "--batch-size", "2", "--epochs", "20",
           "--log-every", "1", "--device", "cpu", "--out", str(run), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    signal_when(proc, lambda: len(RunFolder(run).metrics("step")) >= 3, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    status = RunFolder(run).status()
    assert status["state"] == "cancelled", status
    saved = json.loads((run / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert saved["step"] == status["step"] > 0
    finished = train(None, run, resume=True, progress=False)
    assert finished["state"] == "done" and finished["step"] == 20 * 9  # 18 training images, batch 2
