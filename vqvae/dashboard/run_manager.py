"""Background runs for the dashboard: each one a subprocess running the same CLI as the
terminal, with all its state in its run folder, so runs survive page reloads, other tabs
and restarts of the app: a new RunManager finds them again from disk.

    RUN/job.json   the command, its pid and when it started (written by the manager)
    RUN/log.txt    the process's stdout and stderr

Runs on a queued device (the GPU by default) take turns: each waits for an exclusive lock
on ROOT/.gpu.lock before it trains, and says `queued` meanwhile (loop.device_turn does the
waiting, so the queue needs no page open). Cancel sends SIGTERM: the run saves its last
checkpoint between two steps and ends `cancelled`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vqvae import files
from vqvae.config import PriorRunConfig, RunConfig, run_kind
from vqvae.data import checkpoints
from vqvae.errors import VQVAEError
from vqvae.training import runs
from vqvae.training.loop import GPU_LOCK_ENV  # the device queue is training's; the manager only asks for it
from vqvae.training.runs import JOB, LOG  # the run-folder layout lives in runs.py

ROOT_ENV = "VQVAE_RUNS"
REPO = Path(__file__).resolve().parents[2]
BACKGROUND_NICE = 10


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


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "runs"))


class RunManager:
    """Starts, lists and cancels the runs under `root`. Holds no state of its own beyond the
    processes it spawned (to reap them): everything else is read from disk."""

    def __init__(self, root: str | Path | None = None, queue_devices: tuple[str, ...] = ("cuda",)):
        self.root = Path(root) if root is not None else default_root()
        self.queue_devices = queue_devices
        self._children: dict[int, subprocess.Popen] = {}

    def new_run_dir(self, prefix: str) -> Path:
        """A fresh folder that no other tab or process can also get (mkdir is atomic)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in prefix).strip("-.") or "run"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for _ in range(100):
                path = self.root / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"
                try:
                    path.mkdir()
                    return path
                except FileExistsError:
                    continue
        except OSError as exc:
            raise VQVAEError(f"cannot create a run folder under {self.root} ({exc.strerror}): check its permissions "
                             f"and free space, or set VQVAE_RUNS to another folder") from None
        raise VQVAEError(f"could not create a run folder under {self.root}: check its permissions")

    def start(self, config: RunConfig | PriorRunConfig, name: str) -> Path:
        """Launch a run of `config` in the background; returns its run folder.

        The config is written to RUN/request.json and the process runs
        `python -m vqvae train --config RUN/request.json --out RUN` (train-prior for a prior),
        the same CLI as the terminal, which checks the settings (a bad one fails the run with
        its one-line message). The config's device decides whether the run queues."""
        if not isinstance(config, (RunConfig, PriorRunConfig)):
            raise ValueError(f"a run starts from a RunConfig or a PriorRunConfig, not {type(config).__name__}")
        kind = "prior" if isinstance(config, PriorRunConfig) else "vqvae"
        run_dir = self.new_run_dir(name)
        request = run_dir / runs.REQUEST
        argv = [sys.executable, "-m", "vqvae", runs.KINDS[kind][1], "--config", str(request), "--out", str(run_dir),
                "--no-progress"]
        env = dict(os.environ)
        if self._resolved_device(config.train.device) in self.queue_devices:
            env[GPU_LOCK_ENV] = str(self.root / ".gpu.lock")
        try:
            runs.mark_run(run_dir, kind)  # ours from the start, before the process has written anything
            files.atomic_write_json(request, config.to_dict())
            with open(run_dir / LOG, "ab") as log:
                proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)  # a page rerun or Ctrl-C of the app does not kill it
        except OSError as exc:
            raise VQVAEError(f"cannot start a run in {run_dir} ({exc.strerror}): check the runs folder's "
                             f"permissions and free space") from None
        self._children[proc.pid] = proc
        with contextlib.suppress(OSError, AttributeError):  # no priorities on some systems: then just share
            # Below the app's priority, so the pages stay live while a run keeps the cores busy
            # (set before the child's interpreter has started threads, which inherit it).
            os.setpriority(os.PRIO_PROCESS, proc.pid, BACKGROUND_NICE)
        with contextlib.suppress(OSError):  # without it the run still reports itself through status.json
            files.atomic_write_json(run_dir / JOB, {"command": argv, "kind": kind, "pid": proc.pid,
                                                   "started": time.time(), "name": name})
        return run_dir

    def start_like(self, run_dir: str | Path, name: str, **changes) -> Path:
        """A new VQ-VAE run with the settings of `run_dir` and only `changes` (ModelConfig or
        TrainConfig field names) different: the settings it was started with (known at
        once, before its process has written its config), else its saved config."""
        run_dir = Path(run_dir)
        config = requested_config(run_dir)
        if not isinstance(config, RunConfig):
            raise VQVAEError(f"{run_dir} holds no VQ-VAE run settings: pick a VQ-VAE run folder")
        for field_name, value in changes.items():
            section = config.model if hasattr(config.model, field_name) else config.train
            setattr(section, field_name, value)
        return self.start(config, name)

    def info(self, run_dir: str | Path) -> RunInfo:
        """A run's state from its folder; a run whose process died without saying so is failed,
        with the last line it printed."""
        run_dir = Path(run_dir)
        job = files.read_json(run_dir / JOB) or {}
        status = runs.read_status(run_dir)  # an active state there is one a live job holds
        kind = runs.kind_of_run(run_dir) or "vqvae"
        state = status.get("state") or ("starting" if job else "unknown")
        message = status.get("message", "")
        pid = _pid(job) or status.get("pid")
        if state == "starting" and not (pid and self._alive(pid)):
            state, message = "failed", last_error(run_dir) or "the run's process ended without a word"
        elif state == "failed" and status.get("message", "").startswith("its process ended") and last_error(run_dir):
            message = last_error(run_dir)  # what it printed last says more
        name = job.get("name") if isinstance(job.get("name"), str) else run_dir.name
        return RunInfo(run_dir, kind, state, message, status, name)

    def list(self) -> list[RunInfo]:
        """Every run under root, newest first."""
        if not self.root.is_dir():
            return []
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir() and any((p / name).is_file() for name in
                                                                          (runs.MARKER, JOB, runs.STATUS))]
            folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:  # the folder went away while being listed
            return []
        return [self.info(p) for p in folders]

    def cancel(self, run_dir: str | Path) -> None:
        """Ask a run to stop: it saves its last checkpoint and ends cancelled (a queued run
        just ends)."""
        info = self.info(run_dir)
        if not info.active:
            return
        pid = _pid(files.read_json(Path(run_dir) / JOB) or {}) or info.status.get("pid")
        if pid and self._alive(pid):
            os.kill(pid, signal.SIGTERM)
            if info.state in ("starting", "queued"):  # not training yet: nothing to save
                runs.write_status(run_dir, state="cancelled", message="cancelled before it started")

    def wait(self, run_dir: str | Path, timeout: float = 600, poll: float = 0.2) -> RunInfo:
        """Block until the run is no longer active (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.info(run_dir)
            if not info.active or time.monotonic() > deadline:
                return info
            time.sleep(poll)

    def _alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None  # reaps our own finished children (no zombies)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(pid)

    @staticmethod
    def _resolved_device(device: str) -> str:
        if device != "auto":
            return device.split(":")[0]
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def _pid(job: dict) -> int | None:
    pid = job.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def requested_config(run_dir: str | Path) -> RunConfig | PriorRunConfig | None:
    """The settings a run was started with: its request (written before its process
    started), else its saved config; None when neither can be read."""
    for name in (runs.REQUEST, runs.CONFIG):
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


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return False


def run_config(run_dir: str | Path) -> dict:
    """The settings a run was started with (RUN/config.json), {} while it has not written them
    (or when the file is damaged)."""
    return files.read_json(Path(run_dir) / runs.CONFIG) or {}


def vqvae_of_prior_run(run_dir: str | Path) -> str:
    """The VQ-VAE a prior run was started for, as the user named it ("" if its config is damaged)."""
    train = run_config(run_dir).get("train")
    vqvae = train.get("vqvae") if isinstance(train, dict) else None
    return vqvae if isinstance(vqvae, str) else ""


def describe(info: RunInfo) -> dict:
    """One row of the runs table; the best held-out score is the one its best checkpoint holds
    (the status may lag behind it when a run was stopped between the two writes)."""
    s = info.status
    best = checkpoints.checkpoint_metrics(info.path, "best")
    return {"run": info.name, "kind": info.kind, "state": info.state, "epoch": s.get("epoch"),
            "epochs": s.get("epochs"), "val_psnr": best.get("val_psnr", s.get("best_val_psnr")),
            "val_nll": best.get("val_nll", s.get("best_val_nll")), "message": info.message}

