"""Background runs for the dashboard: each one a subprocess running the same CLI as the
terminal, with all its state in its run folder, so runs survive page reloads, other tabs
and restarts of the app: a new RunManager finds them again from disk.

    RUN/job.json   the command, its pid and when it started (written by the manager)
    RUN/log.txt    the process's stdout and stderr

Runs on a queued device (the GPU by default) take turns: each waits for an exclusive lock
on ROOT/.gpu.lock before it trains, and says `queued` meanwhile (loop.device_turn does the
waiting, so the queue needs no page open). Cancel sends SIGTERM: the run saves its last
checkpoint between two steps and ends `cancelled`; resume starts it again in the same folder
from that checkpoint (`python -m vqvae train --resume`), under the same log and job.json.

Every spawned process is waited on by a daemon thread of its own, so a run that ends is
reaped at once (never left a zombie of the app until it exits), whatever the pages ask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from vqvae import files
from vqvae.config import PriorRunConfig, RunConfig
from vqvae.dashboard.runs import RunInfo, check_resumable, default_root, list_runs, pid_of, requested_config, run_info
from vqvae.errors import VQVAEError
from vqvae.store import layout, run_folder
from vqvae.store.layout import JOB, LOG
from vqvae.training.loop import GPU_LOCK_ENV  # the device queue is training's; the manager only asks for it
from vqvae.store.run_folder import RunFolder

LIBRARY_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the vqvae package
BACKGROUND_NICE = 10


class RunManager:
    """Starts, resumes, lists and cancels the runs under `root`. Holds no state of its own
    beyond the processes it spawned (to reap them): everything else is read from disk."""

    def __init__(self, root: str | Path | None = None, queue_devices: tuple[str, ...] = ("cuda",)):
        self.root = Path(root) if root is not None else default_root()
        self.queue_devices = queue_devices
        self._children: dict[int, subprocess.Popen] = {}  # spawned and not yet reaped
        self._lock = threading.Lock()  # _children is shared with the reaper threads

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
        request = run_dir / layout.REQUEST
        try:
            RunFolder(run_dir).mark(kind)  # ours from the start, before the process has written anything
            files.atomic_write_json(request, config.to_dict())
        except OSError as exc:
            raise VQVAEError(_cannot_start(run_dir, exc)) from None
        self._spawn(run_dir, kind, ["--config", str(request)], config.train.device, name)
        return run_dir

    def resume(self, run_dir: str | Path, epochs: int | None = None) -> Path:
        """Continue an ended run in the background from its last checkpoint; returns its folder.

        The process runs `python -m vqvae train --resume --out RUN [--epochs N]` (train-prior
        for a prior) into the same log, and job.json is rewritten with its pid, so the run
        reads `starting` until that process writes its status. `epochs` raises the run's
        epoch count (never lowers it). Refused in one line (VQVAEError), nothing spawned, for
        a folder that is not a run of ours, a run that is still active, one with no last
        checkpoint, and a done run unless `epochs` is more than it trained."""
        run_dir = Path(run_dir)
        info = self.info(run_dir)
        check_resumable(info, epochs)
        config = requested_config(run_dir)
        device = config.train.device if config is not None else "auto"
        job = files.read_json(run_dir / JOB) or {}
        name = job.get("name") if isinstance(job.get("name"), str) else run_dir.name
        # job.json keeps the time of the status it resumes: until the new process writes its
        # own, the run reads "starting" (no clock comparison: the status is the same one or not)
        self._spawn(run_dir, info.kind, ["--resume", *(["--epochs", str(epochs)] if epochs is not None else [])],
                    device, name, resumes=info.status.get("updated"))
        return run_dir

    def _spawn(self, run_dir: Path, kind: str, args: list[str], device: str, name: str,
               **recorded) -> subprocess.Popen:
        """Run `python -m vqvae <kind's command> ARGS --out RUN --no-progress` in the background:
        output appended to RUN/log.txt, a session of its own, a lower priority, queued on
        the device lock when `device` queues; job.json says its command and pid, and a
        daemon thread reaps it when it ends."""
        argv = [sys.executable, "-m", "vqvae", run_folder.KINDS[kind][1], *args, "--out", str(run_dir), "--no-progress"]
        # The child runs in the app's own folder (relative paths mean what they mean to the app)
        # and finds this very library even where it is a checkout, not an installed package.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([LIBRARY_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]))
        if self._resolved_device(device) in self.queue_devices:
            env[GPU_LOCK_ENV] = str(self.root / ".gpu.lock")
        try:
            with open(run_dir / LOG, "ab") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)  # a page rerun or Ctrl-C of the app does not kill it
        except OSError as exc:
            raise VQVAEError(_cannot_start(run_dir, exc)) from None
        self._adopt(proc)
        with contextlib.suppress(OSError, AttributeError):  # no priorities on some systems: then just share
            # Below the app's priority, so the pages stay live while a run keeps the cores busy
            # (set before the child's interpreter has started threads, which inherit it).
            os.setpriority(os.PRIO_PROCESS, proc.pid, BACKGROUND_NICE)
        with contextlib.suppress(OSError):  # without it the run still reports itself through status.json
            files.atomic_write_json(run_dir / JOB, {"command": argv, "kind": kind, "pid": proc.pid,
                                                   "started": time.time(), "name": name, **recorded})
        return proc

    def _adopt(self, proc: subprocess.Popen) -> None:
        """Keep `proc` among our children until it ends, and reap it then: a thread blocked in
        wait() costs nothing while the run lasts, and the app may never ask about it again."""
        with self._lock:
            self._children[proc.pid] = proc

        def reap() -> None:
            proc.wait()
            with self._lock:
                if self._children.get(proc.pid) is proc:  # the pid may already be a newer child's
                    del self._children[proc.pid]

        threading.Thread(target=reap, name=f"reap-{proc.pid}", daemon=True).start()

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
        """A run's state from its folder (see runs.run_info)."""
        return run_info(run_dir, self._alive)

    def list(self) -> list[RunInfo]:
        """Every run under root, newest first."""
        return list_runs(self.root, self._alive)

    def cancel(self, run_dir: str | Path) -> None:
        """Ask a run to stop: it saves its last checkpoint and ends cancelled (a queued run
        just ends)."""
        info = self.info(run_dir)
        if not info.active:
            return
        pid = pid_of(files.read_json(Path(run_dir) / JOB) or {}) or info.status.get("pid")
        if pid and self._alive(pid):
            os.kill(pid, signal.SIGTERM)
            if info.state in ("starting", "queued"):  # not training yet: nothing to save
                RunFolder(run_dir).write_status(state="cancelled", message="cancelled before it started")

    def wait(self, run_dir: str | Path, timeout: float = 600, poll: float = 0.2) -> RunInfo:
        """Block until the run is no longer active (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.info(run_dir)
            if not info.active or time.monotonic() > deadline:
                return info
            time.sleep(poll)

    def _alive(self, pid: int) -> bool:
        with self._lock:
            child = self._children.get(pid)
        if child is not None:
            return child.poll() is None  # None too while its reaper is inside wait(): then it is alive
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


def _cannot_start(run_dir: Path, exc: OSError) -> str:
    return (f"cannot start a run in {run_dir} ({exc.strerror}): check the runs folder's permissions "
            f"and free space")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return False
