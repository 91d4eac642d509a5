"""A user's files are never overwritten, a run's status tells the truth, settings
the product cannot serve are refused, and a full disk ends a run in one line with its last
checkpoint whole. (The damaged-folder matrix is tests/integration/test_damage.py.)"""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, folder_snapshot, signal_when, tiny_folder_run_config, tiny_run_config
from vqvae import files
from vqvae.__main__ import main
from vqvae.config import MAX_CODEBOOK_SIZE
from vqvae.dashboard.runs import RunInfo, describe
from vqvae.store import checkpoints
from vqvae.store.load import load_vqvae
from vqvae.errors import VQVAEError
from vqvae.store import claim, layout
from vqvae.store.run_folder import RunFolder
from vqvae.training.vqvae_trainer import train

TINY = ["--hidden", "16", "--codebook-size", "16", "--code-dim", "4", "--device", "cpu", "--no-progress"]


def cli_in_process(capsys, *args) -> tuple[int, str]:
    """`python -m vqvae ARGS` in this process: (exit status, stderr)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def users_folder(tmp_path):
    """A folder of somebody's own files, named like a run's."""
    folder = tmp_path / "mine"
    (folder / "checkpoints" / "last").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes")
    (folder / "status.json").write_text('{"mine": true}')
    (folder / "metrics.jsonl").write_text('{"kind": "step", "step": 1, "loss": 9}\n')
    (folder / "checkpoints" / "last" / "important.bin").write_bytes(b"\x00\x01 important")
    return folder


# --- 1. a run folder is recognised, never assumed ------------------------------------------
@pytest.mark.parametrize("resume", [False, True], ids=["new run", "resume"])
def test_a_folder_that_is_not_a_run_is_refused_untouched(capsys, users_folder, resume):
    before = folder_snapshot(users_folder)
    args = ["train", "--out", users_folder, *(["--resume"] if resume else TINY)]
    code, err = cli_in_process(capsys, *args)
    assert_one_line_error(code, err, str(users_folder), "new or empty")
    assert folder_snapshot(users_folder) == before
    assert sorted(p.name for p in users_folder.iterdir()) == ["checkpoints", "metrics.jsonl", "notes.txt", "status.json"]


@pytest.mark.parametrize("out", ["/proc", "/proc/self"])
def test_a_system_folder_is_refused_in_one_line(capsys, out):
    code, err = cli_in_process(capsys, "train", "--out", out, *TINY)
    assert_one_line_error(code, err, out)


def test_a_file_as_out_is_refused(capsys, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    code, err = cli_in_process(capsys, "train", "--out", tmp_path / "a-file", *TINY)
    assert_one_line_error(code, err, "is a file")
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_an_unwritable_folder_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch):
    """Root writes anywhere, so the refusal of the file system is simulated where the run
    writes its first file."""
    def refuse(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(files, "atomic_write_bytes", refuse)
    code, err = cli_in_process(capsys, "train", "--out", tmp_path / "run", "--epochs", 1, *TINY)
    assert_one_line_error(code, err, "Permission denied")


def test_following_the_resume_advice_never_trains_over_an_old_run(capsys, tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / layout.CONFIG).unlink()
    before = folder_snapshot(run)
    code, err = cli_in_process(capsys, "train", "--out", run, "--resume")
    assert_one_line_error(code, err, "config.json is missing or damaged", "another --out")
    code, err = cli_in_process(capsys, "train", "--out", run, *TINY)  # "start a new run" in the same folder
    assert_one_line_error(code, err, "already holds a VQ-VAE run")
    assert folder_snapshot(run) == before


def test_a_prepared_folder_takes_a_new_run(tmp_path, tiny_image_folder):
    """What the run manager makes before its process starts: the marker, job and log."""
    run = tmp_path / "run"
    run.mkdir()
    RunFolder(run).mark("vqvae")
    (run / layout.LOG).write_text("")
    files.atomic_write_json(run / layout.JOB, {"kind": "vqvae", "pid": os.getpid()})
    assert train(tiny_folder_run_config(tiny_image_folder), run, progress=False)["state"] == "done"


def test_resume_without_its_last_checkpoint_never_restarts_over_the_best(capsys, tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "checkpoints" / "last" / layout.WEIGHTS).unlink()
    before = folder_snapshot(run)
    code, err = cli_in_process(capsys, "train", "--out", run, "--resume", "--epochs", 2)
    assert_one_line_error(code, err, "checkpoints/last")
    after = folder_snapshot(run)
    assert {k: v for k, v in after.items() if k != layout.LOCK} == {k: v for k, v in before.items() if k != layout.LOCK}


def test_resume_refuses_a_checkpoint_folder_holding_a_users_file(capsys, tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "checkpoints" / "last" / "important.bin").write_bytes(b"mine")
    before = folder_snapshot(run)
    code, err = cli_in_process(capsys, "train", "--out", run, "--resume", "--epochs", 2)
    assert_one_line_error(code, err, "important.bin", "did not write")
    assert folder_snapshot(run) == before


def test_a_checkpoint_swap_never_deletes_a_file_it_did_not_write(tmp_path):
    dest = tmp_path / "checkpoints" / "last"
    fill = lambda folder: (folder / layout.WEIGHTS).write_bytes(b"weights")  # noqa: E731
    checkpoints.write_folder_atomically(dest, fill)
    checkpoints.write_folder_atomically(dest, fill)  # the first is now last.old
    (tmp_path / "checkpoints" / "last.old" / "important.bin").write_bytes(b"mine")
    with pytest.raises(VQVAEError, match="important.bin"):
        checkpoints.write_folder_atomically(dest, fill)
    assert (tmp_path / "checkpoints" / "last.old" / "important.bin").read_bytes() == b"mine"
    assert (dest / layout.WEIGHTS).read_bytes() == b"weights"


# --- 3. status tells the truth -------------------------------------------------------------
KILL_AT_SWAP = """
import os, signal, sys
from vqvae.store import layout
from vqvae.__main__ import main
real_replace, swaps = os.replace, []
def replace(src, dst):
    if str(dst).endswith("checkpoints/last") and os.path.isdir(src):
        swaps.append(dst)
        if len(swaps) == 2:  # the second save of last: killed between its two renames
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_at_a_checkpoint_swap_then_resume(tmp_path, tiny_image_folder):
    out = tmp_path / "run"
    cfg = tmp_path / "config.json"
    files.atomic_write_json(cfg, tiny_folder_run_config(tiny_image_folder, epochs=3).to_dict())
    killed = subprocess.run([sys.executable, "-c", KILL_AT_SWAP, "train", "--config", str(cfg), "--out", str(out),
                             "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "checkpoints" / "last").exists()  # the instant between the renames
    assert (out / "checkpoints" / "last.old").is_dir()
    leftovers = [p for p in (out / "checkpoints").iterdir() if layout.LEFTOVER.match(p.name)]
    assert leftovers, "the kill should have left the new folder behind"
    assert RunFolder(out).status()["state"] == "failed"  # nobody holds the lock: the process is gone
    assert json.loads((out / layout.STATUS).read_text())["state"] == "failed"  # and the file says so now

    status = train(None, out, resume=True, progress=False)
    assert status["state"] == "done" and status["epoch"] == 3
    assert not [p for p in (out / "checkpoints").iterdir() if layout.LEFTOVER.match(p.name)]
    for which in ("best", "last"):
        load_vqvae(checkpoints.resolve_checkpoint(out, which))


def test_a_cli_run_killed_with_sigkill_is_reported_failed_by_eval(capsys, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "vqvae", "train", "--out", str(out), "--epochs", "50", *TINY,
                             "--log-every", "5"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert signal_when(proc, lambda: (checkpoints.resolve_checkpoint_or_none(out, "last") is not None
                                      and RunFolder(out).status().get("state") == "running"), signal.SIGKILL)
    proc.wait()
    assert json.loads((out / layout.STATUS).read_text())["state"] == "running"  # what the kill left
    code, err = cli_in_process(capsys, "eval", "--model", out, "--device", "cpu")
    assert code == 0
    assert "notice:" in err and "failed" in err and "--resume" in err
    assert json.loads((out / layout.STATUS).read_text())["state"] == "failed"


def test_a_running_run_is_not_settled_as_failed(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    RunFolder(run).write_status(state="running")
    with claim.exclusive(run):  # as its job does
        assert RunFolder(run).status()["state"] == "running"
    assert RunFolder(run).status()["state"] == "failed"


@pytest.mark.parametrize("damage", ["truncated", "not an object", "deleted"])
def test_a_finished_run_with_a_damaged_status_stays_done(tmp_path, tiny_run, damage):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    status = run / layout.STATUS
    if damage == "truncated":
        status.write_bytes(status.read_bytes()[: len(status.read_bytes()) // 2])
    elif damage == "not an object":
        status.write_text('"done"')
    else:
        status.unlink()
    recovered = RunFolder(run).status()
    assert recovered["state"] == "done" and recovered["epoch"] == 1
    assert recovered["best_val_psnr"] == checkpoints.checkpoint_metrics(run, "best")["val_psnr"]


def test_the_runs_table_shows_the_psnr_the_best_checkpoint_holds(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    held = checkpoints.checkpoint_metrics(run, "best")["val_psnr"]
    RunFolder(run).write_status(best_val_psnr=held - 1.6)  # stopped between the checkpoint and the status
    row = describe(RunInfo(run, "vqvae", "cancelled", "", RunFolder(run).status()))
    assert row["val_psnr"] == held


# --- 4. bounds ------------------------------------------------------------------------------
def test_a_codebook_above_the_bound_is_refused_in_one_line(capsys, tmp_path):
    code, err = cli_in_process(capsys, "train", "--out", tmp_path / "run", "--codebook-size", 100000,
                               "--device", "cpu")
    assert_one_line_error(code, err, f"{MAX_CODEBOOK_SIZE:,}", "--codebook-size")
    assert not (tmp_path / "run").exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused(capsys, tmp_path):
    code, err = cli_in_process(capsys, "train", "--out", tmp_path / "run", "--batch-size", 1000000,
                               "--image-size", 512, "--device", "cpu")
    assert_one_line_error(code, err, "GiB", "--batch-size")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def largest_codebook_run(tmp_path_factory):
    """A run with the largest codebook allowed (untrained: epochs 0 keeps the initial model)."""
    from conftest import tiny_model_config
    from vqvae import RunConfig, TrainConfig

    out = tmp_path_factory.mktemp("runs") / "largest-k"
    cfg = RunConfig(tiny_model_config(codebook_size=MAX_CODEBOOK_SIZE, code_dim=4),
                    TrainConfig(dataset="mnist", epochs=0, device="cpu"))
    assert train(cfg, out, progress=False)["state"] == "done"
    return out


def test_the_codebook_page_serves_the_largest_codebook(largest_codebook_run, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VQVAE_RUNS", str(largest_codebook_run.parent))
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    app.session_state["active_vqvae"] = str(largest_codebook_run)
    app.run()
    app.switch_page("pages/codebook.py").run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox[0].value == str(largest_codebook_run)
    caption = app.get("image")[0].proto.imgs[0].caption
    assert f"The first 256 of the {MAX_CODEBOOK_SIZE:,} codes" in caption  # 16 rows at first
    assert app.select_slider(key="codebook_tiles").options[-1] == "1024"  # at most 1,024 tiles
    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    bars = [f for f in figures if any(trace.get("type") == "bar" for trace in f["data"])]
    assert bars and plotly_length(bars[0]["data"][0]["x"]) == 1024
    assert f"of {MAX_CODEBOOK_SIZE:,} codes" in bars[0]["layout"]["title"]["text"]


def plotly_length(array) -> int:
    """Length of an array in a Plotly figure's JSON (plain list, or typed: base64 bytes)."""
    if isinstance(array, list):
        return len(array)
    return len(base64.b64decode(array["bdata"])) // np.dtype(array["dtype"]).itemsize


# --- 5. I/O errors ----------------------------------------------------------------------------
def test_a_full_disk_ends_the_run_in_one_line_and_keeps_the_last_checkpoint(capsys, tmp_path, monkeypatch, tiny_image_folder):
    out = tmp_path / "run"
    cfg = tmp_path / "config.json"
    files.atomic_write_json(cfg, tiny_folder_run_config(tiny_image_folder, epochs=3).to_dict())
    real_fill = checkpoints.write_folder_atomically
    saves = []

    def fill_until_full(dest, fill):
        saves.append(dest)
        if len(saves) > 2:  # epoch 1 saved best and last; the disk is full from then on
            def full(folder):
                fill(folder)
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_fill(dest, full)
        return real_fill(dest, fill)

    monkeypatch.setattr(checkpoints, "write_folder_atomically", fill_until_full)
    code, err = cli_in_process(capsys, "train", "--config", cfg, "--out", out, "--no-progress")
    assert_one_line_error(code, err, "disk is full", "--resume")
    assert RunFolder(out).status()["state"] == "failed"
    last = load_vqvae(checkpoints.resolve_checkpoint(out, "last"))
    assert json.loads((checkpoints.resolve_checkpoint(out, "last") / layout.TRAINER_STATE).read_text())["epoch"] == 1
    assert isinstance(last.codebook, torch.Tensor)
    assert not [p for p in (out / "checkpoints").iterdir() if layout.LEFTOVER.match(p.name)]


def test_the_dashboard_runs_folder_that_cannot_be_created_is_one_line(tmp_path):
    from vqvae.dashboard.run_manager import RunManager

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(VQVAEError, match="cannot create a run folder"):
        RunManager(tmp_path / "a-file" / "runs").start(tiny_run_config(), name="x")
