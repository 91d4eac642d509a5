"""Taking a folder for a training job: the checks before anything is written (a new run goes
only into a new, empty or prepared folder; a resume only into a run of ours of its kind), the
lock the job holds while it writes, and the temp files a killed job left behind."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from pathlib import Path

from vqvae.distributed import is_writer
from vqvae.errors import VQVAEError
from vqvae.store.layout import CHECKPOINT_FILES, CHECKPOINTS, LEFTOVER, LOCK, MARKER, PREVIEWS, SAMPLES
from vqvae.store.run_folder import KINDS, PREPARED, RunFolder


def check_new_run_folder(out: Path, kind: str) -> None:
    """--out of a new run must be new, empty, or prepared by the run manager for a run of
    this kind (its marker, job and log, nothing else): anything else is refused, untouched."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VQVAEError(f"{out} is a file: give --out a new or empty folder")
    try:
        names = {p.name for p in out.iterdir()} if out.exists() else set()
    except OSError as exc:
        raise VQVAEError(f"cannot read the folder {out} ({exc.strerror}): give --out a new or empty folder") from None
    if names <= {LOCK}:  # empty, or holding only the lock this job has just taken
        return
    found = RunFolder(out).marker()
    if found is None:
        raise VQVAEError(f"{out} is not empty and is not a VQ-VAE Lab run: give --out a new or empty folder "
                         f"(nothing in it was touched)")
    if names - PREPARED or found["kind"] != kind:
        name, command = KINDS[found["kind"]]
        raise VQVAEError(f"{out} already holds a {name} run: continue it with python -m vqvae {command} --resume "
                         f"--out {out}, or give --out a new folder")


def check_run_to_resume(out: Path, kind: str) -> None:
    """--resume continues only a run of this kind that VQ-VAE Lab wrote, whose checkpoint
    folders hold nothing else (a swap would otherwise move a user's file)."""
    out = Path(out)
    found = RunFolder(out).marker() if out.is_dir() else None
    if found is None:
        raise VQVAEError(f"cannot resume: {out} is not a VQ-VAE Lab run (it has no {MARKER}): "
                         f"pass the folder of a run, or start a new run in a new or empty --out")
    if found["kind"] != kind:
        name, command = KINDS[found["kind"]]
        raise VQVAEError(f"cannot resume: {out} holds a {name} run, not a {KINDS[kind][0]} run: continue it with "
                         f"python -m vqvae {command} --resume --out {out}")
    for folder in sorted((out / CHECKPOINTS).glob("*")):
        foreign = sorted(p.name for p in folder.iterdir()) if folder.is_dir() and not LEFTOVER.match(folder.name) else []
        foreign = [name for name in foreign if name not in CHECKPOINT_FILES]
        if foreign:
            raise VQVAEError(f"cannot resume: {folder} holds files VQ-VAE Lab did not write ({', '.join(foreign[:3])}): "
                             f"move them out of the run folder first")


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Delete the temp files and folders a killed job left in its run folder (named as
    mkstemp/mkdtemp named them here); returns what was removed. Call it holding the lock."""
    run_dir = Path(run_dir)
    removed = []
    for folder in (run_dir, run_dir / CHECKPOINTS, run_dir / PREVIEWS, run_dir / SAMPLES,
                   *(p for p in (run_dir / CHECKPOINTS).glob("*") if p.is_dir())):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in folder.iterdir():
            if LEFTOVER.match(path.name) and not path.is_symlink():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def exclusive(run_dir: Path):
    """Hold RUN/.lock for as long as a job writes the folder, so two jobs never share one."""
    if not is_writer():  # the other ranks of a distributed run never write
        yield
        return
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(run_dir) / LOCK, "a") as f:
        deadline = time.monotonic() + 1.0  # a reader checking whether the run is alive holds it for microseconds
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise VQVAEError(f"{run_dir} is being written by another training job: wait for it, cancel it, "
                                     f"or choose another --out") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


