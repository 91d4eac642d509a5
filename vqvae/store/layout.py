"""Every file name VQ-VAE Lab reads or writes: the one place the layout on disk is spelt.

A run folder (vqvae.store.run_folder):

    RUN/run.json               the marker: this folder is a run VQ-VAE Lab wrote (format, version, kind)
    RUN/config.json            the run's settings (RunConfig or PriorRunConfig)
    RUN/status.json            state (starting, queued, running, done, failed, cancelled), progress, message
    RUN/metrics.jsonl          one JSON object per line: step lines and epoch lines
    RUN/checkpoints/last/      a checkpoint folder + optimizer.safetensors + trainer_state.json
    RUN/checkpoints/best/      a checkpoint folder, best held-out score so far
    RUN/previews/epoch_NNN.png a VQ-VAE's held-out originals (top) over their reconstructions (bottom)
    RUN/samples/epoch_NNN.png  a prior's samples, decoded by its VQ-VAE
    RUN/vqvae/                 a prior's copy of its frozen VQ-VAE (a checkpoint folder)
    RUN/codes.safetensors      a prior's code cache: both splits encoded once, with their labels
    RUN/request.json           the settings a background run was started with (the run manager's)
    RUN/job.json, RUN/log.txt  a background run's command and output (the run manager's)
    RUN/.lock                  held by the one job that writes the folder

A checkpoint folder, in Hugging Face Hub layout (vqvae.store.checkpoints):

    FOLDER/config.json         the model's settings
    FOLDER/model.safetensors   its weights (never a pickle)
    FOLDER/README.md           the model card
    FOLDER/metrics.json        the held-out numbers of this checkpoint
    FOLDER/optimizer.safetensors, FOLDER/trainer_state.json   (last only) what a resume needs

An exported model folder (vqvae.store.export) is a checkpoint folder plus training.json (its
run's config), metrics.jsonl (its curves), the newest picture grid and, for a prior, vqvae/.
"""

from __future__ import annotations

import re
from pathlib import Path

# A checkpoint folder
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
CHECKPOINT_METRICS = "metrics.json"
OPTIMIZER = "optimizer.safetensors"
TRAINER_STATE = "trainer_state.json"
CHECKPOINT_FILES = {CONFIG, WEIGHTS, CARD, OPTIMIZER, TRAINER_STATE, CHECKPOINT_METRICS}

# A run folder
MARKER = "run.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"  # an exported model keeps its run's (its curves)
CHECKPOINTS = "checkpoints"
PREVIEWS = "previews"  # a VQ-VAE run's picture grids
SAMPLES = "samples"  # a prior run's picture grids
VQVAE_COPY = "vqvae"
CODES = "codes.safetensors"
REQUEST = "request.json"
JOB = "job.json"
LOG = "log.txt"
LOCK = ".lock"

# An exported model folder
TRAINING = "training.json"  # its run's config: what it was trained on, and how

# Names mkstemp/mkdtemp give our temp files and folders (".status.json.k3j_9xq2.tmp"): what
# a kill can leave behind, and the only thing a start or resume cleans up.
LEFTOVER = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def checkpoint_dir(run_dir: Path, which: str) -> Path:
    """RUN/checkpoints/<which> ("best" or "last")."""
    return Path(run_dir) / CHECKPOINTS / which


def picture_path(run_dir: Path, folder: str, epoch: int) -> Path:
    """RUN/<previews or samples>/epoch_NNN.png"""
    return Path(run_dir) / folder / f"epoch_{epoch:03d}.png"


def pictures(run_dir: Path, folder: str) -> list[Path]:
    """The picture grids of a run's folder (previews or samples), oldest first."""
    return sorted((Path(run_dir) / folder).glob("epoch_*.png"))
