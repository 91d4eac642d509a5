"""The dashboard's run manager as plain Python: background runs as CLI subprocesses whose
state lives in their run folders."""

from __future__ import annotations

import os
import signal

import pytest

from conftest import wait_for
from vqvae import runs
from vqvae.errors import VQVAEError
from vqvae.jobs import RunManager, cli_flags, describe
from vqvae.model import load_vqvae

TINY = ["--hidden", 16, "--codebook-size", 16, "--code-dim", 4, "--device", "cpu", "--log-every", 5]




def test_a_run_finishes_and_a_new_manager_finds_it(tmp_path, tiny_image_folder):
    manager = RunManager(tmp_path)
    run = manager.start("train", ["--dataset", "folder", "--data", tiny_image_folder, "--epochs", 1,
                                  "--batch-size", 8, *TINY], name="tiny run")
    assert manager.wait(run).state == "done"
    again = RunManager(tmp_path).list()  # e.g. after the app restarted
    assert [i.path for i in again] == [run]
    assert again[0].kind == "vqvae" and again[0].state == "done"
    row = describe(again[0])
    assert row["state"] == "done" and row["val_psnr"] > 0
    assert (run / "log.txt").is_file() and (run / "job.json").is_file()


def test_cancel_leaves_a_loadable_checkpoint(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start("train", ["--epochs", 50, "--batch-size", 32, *TINY], name="long")
    assert wait_for(lambda: runs.read_status(run).get("step", 0) > 0)
    manager.cancel(run)
    info = manager.wait(run)
    assert info.state == "cancelled"
    assert load_vqvae(runs.resolve_checkpoint(run, "last")).config.codebook_size == 16


def test_a_failing_run_is_reported_with_its_message(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start("train", ["--codebook-size", 1, "--device", "cpu"], name="bad")
    info = manager.wait(run)
    assert info.state == "failed" and "codebook size 1 is too small" in info.message


def test_a_killed_run_is_failed_not_running_forever(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start("train", ["--epochs", 50, *TINY], name="killed")
    assert wait_for(lambda: runs.read_status(run).get("step", 0) > 0)
    os.kill(runs.read_json(run / "job.json")["pid"], signal.SIGKILL)
    info = manager.wait(run)
    assert info.state == "failed" and info.message
    assert RunManager(tmp_path).info(run).state == "failed"  # a manager that never spawned it agrees


def test_the_second_run_on_a_queued_device_waits_its_turn(tmp_path):
    manager = RunManager(tmp_path, queue_devices=("cpu",))  # on a GPU machine: ("cuda",), the default
    first = manager.start("train", ["--epochs", 50, *TINY], name="first")
    assert wait_for(lambda: runs.read_status(first).get("state") == "running")
    second = manager.start("train", ["--epochs", 1, "--batch-size", 256, *TINY], name="second")
    assert wait_for(lambda: manager.info(second).state == "queued")
    assert not (second / runs.CONFIG).exists()  # it has not started training
    manager.cancel(first)
    assert manager.wait(first).state == "cancelled"
    assert manager.wait(second).state == "done"


def test_a_queued_run_can_be_cancelled(tmp_path):
    manager = RunManager(tmp_path, queue_devices=("cpu",))
    first = manager.start("train", ["--epochs", 50, *TINY], name="first")
    assert wait_for(lambda: runs.read_status(first).get("state") == "running")
    second = manager.start("train", ["--epochs", 1, *TINY], name="second")
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
        RunManager(tmp_path).start("push", [], name="x")


def test_cli_flags_spell_settings_as_the_cli_does():
    assert cli_flags(codebook_size=64, restart_dead_codes=False, amp=True, data=None, lr=0.001) == [
        "--codebook-size", "64", "--no-restart-dead-codes", "--amp", "--lr", "0.001"]


def test_start_like_changes_only_what_is_asked(tmp_path, tiny_image_folder):
    manager = RunManager(tmp_path)
    first = manager.start("train", ["--dataset", "folder", "--data", tiny_image_folder, "--epochs", 1,
                                    "--batch-size", 8, *TINY], name="base")
    second = manager.start_like(first, name="base-K8", codebook_size=8)  # at once: no config written yet
    for run in (first, second):
        assert manager.wait(run).state == "done"
    a, b = (runs.read_json(r / "config.json") for r in (first, second))
    assert (a["model"].pop("codebook_size"), b["model"].pop("codebook_size")) == (16, 8)
    assert a == b
    assert manager.info(second).label == "base-K8"
    with pytest.raises(VQVAEError, match="no VQ-VAE run settings"):
        manager.start_like(tmp_path / "nothing-here", name="x")
