"""Sample-quality scores of priors for the dashboard: computed once, in a background thread,
and kept as JSON files named by what they depend on, so a page shows them at once next time.

    RUNS_ROOT/.scores/<key>.json   what `python -m vqvae score --json` writes, for one prior
                                   ($VQVAE_SCORES moves the folder)

The key is a hash of the weights of the prior, of its VQ-VAE and of the classifier, and of
the score's settings: a retrained prior gets a new score, an unchanged one keeps its own.
A file that cannot be read back as a score counts as missing, and is computed again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vqvae import files
from vqvae.background import Bounded, Job, Jobs
from vqvae.dashboard.runs import default_root
from vqvae.store import checkpoints
from vqvae.errors import VQVAEError
from vqvae.store.provenance import dataset_of_prior, vqvae_of_prior
from vqvae.training.sample_quality import DEFAULT_N, classifier_for, score
from vqvae.store import layout

SCORES = ".scores"
SCORES_ENV = "VQVAE_SCORES"
SETTINGS = {"n": DEFAULT_N, "temperature": 1.0, "seed": 0}  # what the page shows: the standard score
NUMBERS = ("label_accuracy", "frechet_distance", "reconstruction_label_accuracy", "reconstruction_frechet_distance",
           "classifier_accuracy")
DIGESTS_KEPT = 64  # weights files whose hashes are remembered, the most recently written kept
_DIGESTS = Bounded(DIGESTS_KEPT)  # (path, size, mtime) -> sha256: a rerun does not hash megabytes again


def _digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGESTS[key]


def scorable(prior_folder: Path) -> str | None:
    """Why the prior cannot be scored (one line), or None when it can."""
    try:
        classifier_for(dataset_of_prior(prior_folder))
    except VQVAEError as exc:
        return str(exc)
    return None


def scores_folder() -> Path:
    """Where scores are kept: $VQVAE_SCORES, else .scores in the runs folder."""
    return Path(os.environ.get(SCORES_ENV) or default_root() / SCORES)


def score_file(prior_folder: Path, folder: Path | None = None) -> Path:
    """Where the score of this prior (as its weights are now) is kept, in `folder` (default
    scores_folder())."""
    weights = [checkpoints.resolve_checkpoint(prior_folder), checkpoints.resolve_checkpoint(vqvae_of_prior(prior_folder)),
               classifier_for(dataset_of_prior(prior_folder))]
    text = "|".join([_digest(folder / layout.WEIGHTS) for folder in weights]
                    + [f"{k}={v}" for k, v in sorted(SETTINGS.items())])
    return Path(folder or scores_folder()) / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def read_score(path: Path) -> dict | None:
    """The score kept in `path`, or None when it is missing or not a whole score."""
    saved = files.read_json(path)
    if not isinstance(saved, dict) or not all(files.is_number(saved.get(k)) for k in NUMBERS):
        return None
    return saved


class ScoreJob(Job):
    """One score being computed in a background thread. state: "running", "done" or "failed"
    (message says why)."""

    def __init__(self, prior_folder: Path, path: Path, device: str):
        self.prior_folder, self.path, self.device = prior_folder, path, device
        super().__init__(self._score, f"score-{path.stem}", {VQVAEError: "failed"}, "scoring failed unexpectedly")

    def _score(self, job: Job) -> None:
        try:
            result = score(self.prior_folder, device=self.device, **SETTINGS)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            files.atomic_write_json(self.path, dict(result, prior=str(self.prior_folder)))
        except OSError as exc:
            raise VQVAEError(f"cannot keep the score in {self.path.parent} ({exc.strerror}): check the runs "
                             f"folder's permissions and free space") from None


# A thread still inside torch while the interpreter tears down aborts the whole process
# ("terminate called without an active exception", exit status 134): when the app stops, a
# running score (seconds on a CPU) is waited for, up to two minutes, so a stuck device
# cannot hold the exit forever.
_JOBS = Jobs(keep=32, exit_wait_s=120)


def score_job(path: Path) -> ScoreJob | None:
    """The latest job computing the score kept in `path` in this process, or None."""
    return _JOBS.get(Path(path))


def start_scoring(prior_folder: Path, path: Path, device: str = "auto") -> ScoreJob:
    """Compute a prior's score in the background into `path`; while one for the same file
    runs, that one is returned (reruns and other tabs start nothing new)."""
    return _JOBS.start(Path(path), lambda: ScoreJob(Path(prior_folder), Path(path), device))
