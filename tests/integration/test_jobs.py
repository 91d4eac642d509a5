"""The dashboard's run manager as plain Python: background runs as CLI subprocesses whose
state lives in their run folders."""

from __future__ import annotations

import os
import signal

import pytest

from conftest import tiny_run_config, wait_for
from vqvae import files
from vqvae.dashboard.run_manager import RunManager
from vqvae.dashboard.runs import describe
from vqvae.store import checkpoints
from vqvae.store.load import load_vqvae
from vqvae.errors import VQVAEError
from vqvae.store import layout
from vqvae.store.run_folder import RunFolder


def test_a_run_finishes_and_a_new_manager_finds_it(tmp_path, tiny_image_folder):
    manager = RunManager(tmp_path)
    run = manager.start(tiny_run_config(dataset="folder", data=str(tiny_image_folder), epochs=1, batch_size=8),
                        name="tiny run")
    assert manager.wait(run).state == "done"
    again = RunManager(tmp_path).list()  # e.g. after the app restarted
    assert [i.path for i in again] == [run]
    assert again[0].kind == "vqvae" and again[0].state == "done"
    row = describe(again[0])
    assert row["state"] == "done" and row["val_psnr"] > 0
    assert (run / "log.txt").is_file() and (run / "job.json").is_file()


def test_cancel_leaves_a_loadable_checkpoint(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start(tiny_run_config(epochs=50, batch_size=32), name="long")
    assert wait_for(lambda: RunFolder(run).status().get("step", 0) > 0)
    manager.cancel(run)
    info = manager.wait(run)
    assert info.state == "cancelled"
    assert load_vqvae(checkpoints.resolve_checkpoint(run, "last")).config.codebook_size == 16


def test_a_failing_run_is_reported_with_its_message(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start(tiny_run_config(codebook_size=1), name="bad")
    info = manager.wait(run)
    assert info.state == "failed" and "codebook size 1 is too small" in info.message


def test_a_killed_run_is_failed_not_running_forever(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start(tiny_run_config(epochs=50), name="killed")
    assert wait_for(lambda: RunFolder(run).status().get("step", 0) > 0)
    os.kill(files.read_json(run / "job.json")["pid"], signal.SIGKILL)
    info = manager.wait(run)
    assert info.state == "failed" and info.message
    assert RunManager(tmp_path).info(run).state == "failed"  # a manager that never spawned it agrees


def test_the_second_run_on_a_queued_device_waits_its_turn(tmp_path):
    manager = RunManager(tmp_path, queue_devices=("cpu",))  # on a GPU machine: ("cuda",), the default
    first = manager.start(tiny_run_config(epochs=50), name="first")
    assert wait_for(lambda: RunFolder(first).status().get("state") == "running")
    second = manager.start(tiny_run_config(epochs=1, batch_size=256), name="second")
    assert wait_for(lambda: manager.info(second).state == "queued")
    assert not (second / layout.CONFIG).exists()  # it has not started training
    manager.cancel(first)
    assert manager.wait(first).state == "cancelled"
    assert manager.wait(second).state == "done"


def test_a_queued_run_can_be_cancelled(tmp_path):
    manager = RunManager(tmp_path, queue_devices=("cpu",))
    first = manager.start(tiny_run_config(epochs=50), name="first")
    assert wait_for(lambda: RunFolder(first).status().get("state") == "running")
    second = manager.start(tiny_run_config(epochs=1), name="second")
    assert wait_for(lambda: manager.info(second).state == "queued")
    manager.cancel(second)
    assert manager.wait(second).state == "cancelled"
    manager.cancel(first)
    assert manager.wait(first).state == "cancelled"


def test_run_folders_are_never_shared(tmp_path):
    manager = RunManager(tmp_path)
    folders = {manager.new_run_dir("same name") for _ in range(20)}
    assert len(folders) == 20 and all(f.parent == tmp_path for f in folders)


def test_only_training_commands_start(tmp_path):
    with pytest.raises(ValueError):
        RunManager(tmp_path).start({"command": "push"}, name="x")


def test_a_run_starts_from_the_settings_it_was_given(tmp_path):
    manager = RunManager(tmp_path)
    cfg = tiny_run_config(epochs=0, restart_dead_codes=True, lr=0.002)
    run = manager.start(cfg, name="given")
    assert manager.wait(run).state == "done"
    assert files.read_json(run / layout.CONFIG) == cfg.to_dict()
    assert files.read_json(run / layout.REQUEST) == cfg.to_dict()  # what was asked, known before the process started


def test_start_like_changes_only_what_is_asked(tmp_path, tiny_image_folder):
    manager = RunManager(tmp_path)
    first = manager.start(tiny_run_config(dataset="folder", data=str(tiny_image_folder), epochs=1, batch_size=8),
                          name="base")
    second = manager.start_like(first, name="base-K8", codebook_size=8)  # at once: no config written yet
    for run in (first, second):
        assert manager.wait(run).state == "done"
    a, b = (files.read_json(r / "config.json") for r in (first, second))
    assert (a["model"].pop("codebook_size"), b["model"].pop("codebook_size")) == (16, 8)
    assert a == b
    assert manager.info(second).label == "base-K8"
    with pytest.raises(VQVAEError, match="no VQ-VAE run settings"):
        manager.start_like(tmp_path / "nothing-here", name="x")


def test_a_process_that_exits_while_a_score_runs_waits_for_it_and_exits_cleanly(tmp_path):
    """A thread inside torch at interpreter teardown used to abort the app on exit
    ("terminate called without an active exception", status 134)."""
    import subprocess
    import sys

    from conftest import REPO

    script = ("from pathlib import Path; from vqvae.dashboard.scores import SETTINGS, start_scoring; "
              "SETTINGS['n'] = 100; "  # a score still running at exit, smaller than the standard one
              "from vqvae.store.hub import BUNDLED_DIR; "
              f"start_scoring(BUNDLED_DIR / 'mnist-ema-prior', Path({str(tmp_path / 'score.json')!r}), 'cpu')")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr[-2000:]
    assert files.read_json(tmp_path / "score.json")["label_accuracy"] > 0.5  # it finished, and was kept
