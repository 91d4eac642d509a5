"""Run folders through the Python API: refusing to clobber or to resume nothing, the
checkpoint fallback for a crash mid-swap, torn metrics lines, epochs=0."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from conftest import folder_snapshot, tiny_folder_run_config
from vqvae import VQVAE, VQVAEError, load_vqvae
from vqvae.store.checkpoints import resolve_checkpoint
from vqvae.store.run_folder import RunFolder
from vqvae.training.vqvae_trainer import train


def test_train_refuses_an_existing_run_and_touches_nothing(tmp_path, tiny_run, tiny_image_folder):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = folder_snapshot(run)
    with pytest.raises(VQVAEError, match="--resume"):
        train(tiny_folder_run_config(tiny_image_folder), run, progress=False)
    assert folder_snapshot(run) == before


def test_resume_of_a_folder_without_a_run(tmp_path, tiny_image_folder):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(VQVAEError, match="cannot resume"):
        train(tiny_folder_run_config(tiny_image_folder), tmp_path, resume=True, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_invalid_settings_fail_before_the_run_folder_exists(tmp_path, tiny_image_folder):
    cfg = tiny_folder_run_config(tiny_image_folder)
    cfg.model.codebook_size = 1
    with pytest.raises(VQVAEError, match="codebook size"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_checkpoint_left_as_old_by_a_crash_mid_swap_still_loads(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    best = run / "checkpoints" / "best"
    expected = load_vqvae(best).state_dict()
    best.rename(best.with_name("best.old"))  # the instant between the two renames
    assert resolve_checkpoint(run) == run / "checkpoints" / "best.old"
    loaded = load_vqvae(run).state_dict()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_the_metrics_skip_a_torn_line(tmp_path):
    RunFolder(tmp_path).append_metrics({"kind": "step", "step": 1, "loss": 0.5})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "epoch", "ste')
    assert RunFolder(tmp_path).metrics() == [{"kind": "step", "step": 1, "loss": 0.5}]
    assert RunFolder(tmp_path).metrics("epoch") == []
    assert RunFolder(tmp_path / "missing").metrics() == []


def test_zero_epochs_keeps_the_initial_model(tmp_path, tiny_image_folder):
    cfg = tiny_folder_run_config(tiny_image_folder, epochs=0)
    out = tmp_path / "run"
    status = train(cfg, out, progress=False)
    assert status["state"] == "done" and status["step"] == 0
    torch.manual_seed(cfg.train.seed)
    initial = VQVAE(cfg.model).state_dict()
    saved = load_file(str(out / "checkpoints" / "best" / "model.safetensors"))
    assert saved.keys() == initial.keys()
    assert all(torch.equal(saved[k], initial[k]) for k in saved)
    (epoch,) = RunFolder(out).metrics("epoch")
    assert (epoch["epoch"], epoch["step"]) == (0, 0)
    assert json.loads((out / "status.json").read_text())["state"] == "done"
