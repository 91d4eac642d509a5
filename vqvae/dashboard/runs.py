"""What a runs folder holds, as the pages list and describe it: each run's state (from its
status, its job.json and whether its process lives), the settings it was started with, its
last error line, whether it can be resumed or used, one row of the runs table."""

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vqvae import files
from vqvae.config import PriorRunConfig, RunConfig, run_kind
from vqvae.errors import VQVAEError
from vqvae.store import layout, run_folder
from vqvae.store.layout import JOB, LOG
from vqvae.store.run_folder import RunFolder

ROOT_ENV = "VQVAE_RUNS"
RESUMABLE_STATES = ("cancelled", "failed", "done")  # a killed run reads failed (RunFolder.status settles it)


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "runs"))


@dataclass
class RunInfo:
    path: Path
    kind: str  # "vqvae" or "prior"
    state: str  # starting, queued, running, done, failed, cancelled
    message: str
    status: dict
    label: str = ""  # the name it was started under (the folder adds a time stamp and a tag)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def active(self) -> bool:
        return self.state in ("starting", "queued", "running")


def run_info(run_dir: str | Path, alive: Callable[[int], bool]) -> RunInfo:
    """A run's state from its folder; a run whose process died without saying so is failed,
    with the last line it printed."""
    run_dir = Path(run_dir)
    job = files.read_json(run_dir / JOB) or {}
    folder = RunFolder(run_dir)
    status = folder.status()  # an active state there is one a live job holds
    kind = folder.kind() or "vqvae"
    state = status.get("state") or ("starting" if job else "unknown")
    message = status.get("message", "")
    if state not in run_folder.ACTIVE_STATES and _spawned_since(job, status):
        state, message = "starting", ""  # resumed: its new process has not written its status yet
    pid = pid_of(job) or status.get("pid")
    if state == "starting" and not (pid and alive(pid)):
        state, message = "failed", last_error(run_dir) or "the run's process ended without a word"
    elif state == "failed" and status.get("message", "").startswith("its process ended") and last_error(run_dir):
        message = last_error(run_dir)  # what it printed last says more
    name = job.get("name") if isinstance(job.get("name"), str) else run_dir.name
    return RunInfo(run_dir, kind, state, message, status, name)


def list_runs(root: Path, alive: Callable[[int], bool]) -> list[RunInfo]:
    """Every run under root, newest first."""
    if not root.is_dir():
        return []
    try:
        found = [p for p in root.iterdir() if p.is_dir() and any((p / name).is_file() for name in
                                                                    (layout.MARKER, JOB, layout.STATUS))]
    except OSError:  # the runs folder itself went away
        return []
    dated = []
    for folder in found:
        with contextlib.suppress(OSError):  # one folder removed while listed: the others still count
            dated.append((folder.stat().st_mtime, folder))
    return [run_info(folder, alive) for _, folder in sorted(dated, key=lambda pair: pair[0], reverse=True)]


def pid_of(job: dict) -> int | None:
    pid = job.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def check_resumable(info: RunInfo, epochs: int | None) -> None:
    """Raise the one-line reason `resume` cannot continue this run, if there is one."""
    where = info.name
    if RunFolder(info.path).marker() is None:
        raise VQVAEError(f"cannot resume {where}: it is not a VQ-VAE Lab run folder; pick a run from the list")
    if info.active:
        raise VQVAEError(f"cannot resume {where}: it is still {info.state}; wait for it to end, or cancel it first")
    if info.state not in RESUMABLE_STATES:
        raise VQVAEError(f"cannot resume {where}: its state is {info.state}; only a cancelled, failed or done run "
                         f"can be resumed")
    if RunFolder(info.path).checkpoint("last") is None:
        raise VQVAEError(f"cannot resume {where}: it has no last checkpoint (it stopped before saving one); "
                         f"start a new run with its settings instead")
    if epochs is not None and not _count(epochs):
        raise VQVAEError(f"cannot resume {where}: epochs must be a whole number, 0 or more, not {epochs!r}")
    planned = planned_epochs(info)
    if info.state == "done" and (epochs is None or planned is None or epochs <= planned):
        more = f"more than its {planned} epochs" if planned is not None else "a larger epoch count"
        raise VQVAEError(f"cannot resume {where}: it is done; give it {more} to train it further")


def _spawned_since(job: dict, status: dict) -> bool:
    """Whether a process was started on the run (a resume) that has not said anything yet:
    job.json names the status it resumed (its "updated" time), and that status is still the
    one on disk."""
    return "resumes" in job and job["resumes"] == status.get("updated")


def requested_config(run_dir: str | Path) -> RunConfig | PriorRunConfig | None:
    """The settings a run was started with: its request (written before its process
    started), else its saved config; None when neither can be read."""
    for name in (layout.REQUEST, layout.CONFIG):
        saved = files.read_json(Path(run_dir) / name)
        kind = run_kind(saved)
        if kind:
            try:
                return (PriorRunConfig if kind == "prior" else RunConfig).from_dict(saved)
            except VQVAEError:
                continue
    return None


def last_error(run_dir: Path) -> str:
    """The last non-empty line of a run's log (the CLI prints errors as one line)."""
    try:
        lines = [line.strip() for line in (Path(run_dir) / LOG).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def saved_config(run_dir: str | Path) -> dict:
    """The settings a run was started with (RUN/config.json), {} while it has not written them
    (or when the file is damaged)."""
    return files.read_json(Path(run_dir) / layout.CONFIG) or {}


def vqvae_of_prior_run(run_dir: str | Path) -> str:
    """The VQ-VAE a prior run was started for, as the user named it ("" if its config is damaged)."""
    train = saved_config(run_dir).get("train")
    vqvae = train.get("vqvae") if isinstance(train, dict) else None
    return vqvae if isinstance(vqvae, str) else ""


def planned_epochs(info: RunInfo) -> int | None:
    """The epochs the run trains to: its status's, else its saved config's (None if neither says)."""
    epochs = info.status.get("epochs")
    if not _count(epochs):
        train = saved_config(info.path).get("train")
        epochs = train.get("epochs") if isinstance(train, dict) else None
    return epochs if _count(epochs) else None


def _count(value) -> bool:
    """A whole number, 0 or more (not a bool, which JSON readers also give)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def resumable(info: RunInfo) -> bool:
    """Whether RunManager.resume can continue this run: a run of ours that ended cancelled,
    failed (or killed) or done, with a last checkpoint. A done one also needs more epochs
    than planned_epochs(info), which resume checks."""
    folder = RunFolder(info.path)
    return info.state in RESUMABLE_STATES and folder.marker() is not None and folder.checkpoint("last") is not None


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether the run saved a model to use (best or last): a cancelled or failed run with one
    can still be made the active model."""
    return any(RunFolder(run_dir).checkpoint(which) is not None for which in ("best", "last"))


def describe(info: RunInfo) -> dict:
    """One row of the runs table; the best held-out score is the one its best checkpoint holds
    (the status may lag behind it when a run was stopped between the two writes)."""
    s = info.status
    best = RunFolder(info.path).checkpoint_metrics("best")
    return {"run": info.name, "kind": info.kind, "state": info.state, "epoch": s.get("epoch"),
            "epochs": s.get("epochs"), "val_psnr": best.get("val_psnr", s.get("best_val_psnr")),
            "val_nll": best.get("val_nll", s.get("best_val_nll")), "message": info.message}



def training_minutes(folder: Path | None) -> float | None:
    """The epochs' training time of the model in `folder`, in minutes to 0.1; for a run from
    before epochs were timed, the wall-clock time from its start to its end (evaluation
    included); None when neither is known."""
    if folder is None:
        return None
    seconds = RunFolder(folder).training_seconds()
    if seconds is None and RunFolder(folder).kind():
        started, ended = (files.read_json(folder / JOB) or {}).get("started"), RunFolder(folder).status().get("updated")
        seconds = ended - started if files.is_number(started) and files.is_number(ended) else None
    return None if seconds is None else round(seconds / 60, 1)
