"""Resuming a background run from the dashboard (RunManager.resume) and reaping its
processes: a cancelled run continues to the epochs asked for with its metrics continuing,
a done run trains further only when given more epochs, an active run or one without a
checkpoint is refused in one line, and no finished run is left a zombie of the app."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import tiny_run_config, wait_for
from vqvae import files
from vqvae.dashboard.run_manager import RunManager
from vqvae.dashboard.runs import has_checkpoint, resumable
from vqvae.errors import VQVAEError
from vqvae.store import claim
from vqvae.store import layout
from vqvae.store.run_folder import RunFolder


def process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, None once it is gone (reaped)."""
    try:
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return None
    return state, int(ppid)


def zombie_children() -> list[int]:
    """The pids of this process's children that ended and were never reaped (state Z)."""
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if process_state(pid) == ("Z", os.getpid())]


def assert_continues(run: Path, epochs: int) -> None:
    """The run's metrics read as one run of `epochs` epochs: step numbers rise, each epoch once."""
    steps = [r["step"] for r in RunFolder(run).metrics("step")]
    assert steps == sorted(set(steps)), steps
    assert [r["epoch"] for r in RunFolder(run).metrics("epoch")] == list(range(1, epochs + 1))


def assert_refused(manager: RunManager, run: Path, *fragments: str, epochs: int | None = None) -> None:
    job_before = (run / layout.JOB).read_bytes() if (run / layout.JOB).exists() else None
    with pytest.raises(VQVAEError) as refused:
        manager.resume(run, epochs)
    message = str(refused.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    assert ((run / layout.JOB).read_bytes() if (run / layout.JOB).exists() else None) == job_before  # nothing spawned


@pytest.mark.slow
def test_a_cancelled_run_resumes_to_the_epochs_asked_for(tmp_path):
    manager = RunManager(tmp_path)
    run = manager.start(tiny_run_config(epochs=1, batch_size=128), name="cut short")
    assert wait_for(lambda: RunFolder(run).status().get("step", 0) > 0)
    manager.cancel(run)
    cancelled = manager.wait(run)
    assert cancelled.state == "cancelled" and resumable(cancelled) and has_checkpoint(run)
    stopped_at = cancelled.status["step"]
    first_pid = files.read_json(run / layout.JOB)["pid"]

    assert manager.resume(run, epochs=2) == run
    assert manager.info(run).active  # at once, before its process has written anything
    info = manager.wait(run)
    assert info.state == "done", info.message
    assert (info.status["epoch"], info.status["epochs"]) == (2, 2)
    assert info.status["step"] == info.status["total_steps"] > stopped_at
    assert_continues(run, 2)
    job = files.read_json(run / layout.JOB)
    assert job["pid"] != first_pid and job["name"] == "cut short"
    assert job["command"][3:] == ["train", "--resume", "--epochs", "2", "--out", str(run), "--no-progress"]
    assert "cancelled" in (run / layout.LOG).read_text()  # the same log, continued


@pytest.mark.slow
def test_a_done_run_trains_further_only_with_more_epochs(tmp_path, tiny_run):
    run = tmp_path / "done"
    shutil.copytree(tiny_run, run)
    manager = RunManager(tmp_path)
    info = manager.info(run)
    assert info.state == "done" and resumable(info)
    assert_refused(manager, run, "done", "more than its 1 epochs")
    assert_refused(manager, run, "done", "more than its 1 epochs", epochs=1)

    manager.resume(run, epochs=2)
    info = manager.wait(run)
    assert info.state == "done" and info.status["epoch"] == 2, info.message
    assert_continues(run, 2)


def test_an_active_run_is_not_resumed(tmp_path, tiny_run):
    run = tmp_path / "running"
    shutil.copytree(tiny_run, run)
    manager = RunManager(tmp_path)
    RunFolder(run).write_status(state="running")
    with claim.exclusive(run):  # as its job does while it trains
        assert not resumable(manager.info(run))
        assert_refused(manager, run, "still running", "cancel it")


def test_a_run_without_a_checkpoint_is_not_resumed(tmp_path):
    run = tmp_path / "never-trained"
    run.mkdir()
    RunFolder(run).mark("vqvae")
    RunFolder(run).write_status(state="cancelled", message="cancelled before it started")
    manager = RunManager(tmp_path)
    info = manager.info(run)
    assert info.state == "cancelled" and not resumable(info) and not has_checkpoint(run)
    assert_refused(manager, run, "no last checkpoint", "start a new run")


def test_a_folder_that_is_not_a_run_of_ours_is_not_resumed(tmp_path, tiny_run):
    run = tmp_path / "foreign"
    shutil.copytree(tiny_run, run)
    (run / layout.MARKER).unlink()
    assert_refused(RunManager(tmp_path), run, "not a VQ-VAE Lab run")


def test_a_cancelled_run_with_a_checkpoint_can_be_used(tmp_path, tiny_run):
    run = tmp_path / "stopped"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "checkpoints" / "best")
    RunFolder(run).write_status(state="cancelled", message="cancelled")
    assert has_checkpoint(run)  # its last one
    assert not has_checkpoint(tmp_path / "nothing-here")


@pytest.mark.slow
def test_finished_runs_are_reaped_without_anyone_asking(tmp_path):
    manager = RunManager(tmp_path)
    started = [manager.start(tiny_run_config(epochs=0), name=f"quick {i}") for i in range(2)]
    assert [manager.wait(run).state for run in started] == ["done", "done"]
    pids = [files.read_json(run / layout.JOB)["pid"] for run in started]
    # A run writes its final status a moment before its process exits: wait until both have
    # exited (gone, or a zombie), then give the reaper a bounded moment.
    assert wait_for(lambda: all(process_state(pid) in (None, ("Z", os.getpid())) for pid in pids), timeout=60)
    assert wait_for(lambda: not zombie_children(), timeout=10), f"zombies {zombie_children()} (the runs were {pids})"
