"""A run's best checkpoint as a standalone model folder in Hub layout, ready to share or push."""

from __future__ import annotations

import shutil
from pathlib import Path

from vqvae.data.datasets import DATASET_NOTES
from vqvae.files import read_json
from vqvae.store import checkpoints
from vqvae.store.layout import (CARD, CHECKPOINTS, CONFIG, METRICS, PREVIEWS, SAMPLES, TRAINING, VQVAE_COPY, WEIGHTS,
                                pictures)

PICTURES = {SAMPLES: ("samples.png", "Samples (one column per class when class-conditional)"),
            PREVIEWS: ("reconstructions.png", "Held-out images (top) and their reconstructions (bottom)")}


def export_folder(run_or_checkpoint: Path, dest: Path) -> Path:
    """A run's best checkpoint as a standalone model folder in Hub layout: config.json,
    model.safetensors, README.md, training.json (the run's config: its data set and settings),
    metrics.jsonl (its training curves, for the Compare page), a prior's vqvae/ subfolder, and
    the run's newest sample or reconstruction grid, shown in the model card. Swapped in whole."""
    source = checkpoints.resolve_checkpoint(run_or_checkpoint)
    run = next((r for r in (Path(run_or_checkpoint), source.parent.parent) if (r / CONFIG).is_file()
                and (r / CHECKPOINTS).is_dir()), None)
    vqvae_copy = run / VQVAE_COPY if run and (run / VQVAE_COPY / WEIGHTS).is_file() else None
    found = {}
    for folder, (name, caption) in PICTURES.items():
        grids = pictures(run, folder) if run else []
        if grids:
            found[name] = (grids[-1], caption)

    def fill(tmp: Path) -> None:
        for name in (CONFIG, WEIGHTS):
            shutil.copyfile(source / name, tmp / name)
        if run:  # the data set and settings it was trained with, for the pages and a retrain
            shutil.copyfile(run / CONFIG, tmp / TRAINING)
        if run and (run / METRICS).is_file():  # its curves, read back as a run's are (a damaged line is skipped)
            shutil.copyfile(run / METRICS, tmp / METRICS)
        card = (source / CARD).read_text() if (source / CARD).is_file() else ""
        trained = (read_json(run / CONFIG) or {}).get("train") if run else None
        note = DATASET_NOTES.get(trained.get("dataset")) if isinstance(trained, dict) else None
        if note:
            card += f"\n## Data\n\n{note}\n"
        for name, (grid, caption) in found.items():
            shutil.copyfile(grid, tmp / name)
            card += f"\n## {caption}\n\n![{name}]({name})\n"
        (tmp / CARD).write_text(card)
        if vqvae_copy is not None:
            shutil.copytree(vqvae_copy, tmp / VQVAE_COPY)

    checkpoints.write_folder_atomically(Path(dest), fill)
    return Path(dest)
