"""What a model was trained on, read from its folder: the run's config (an exported model's
training.json), its data set and, for a prior, the VQ-VAE whose codes it learnt."""

from __future__ import annotations

from pathlib import Path

from vqvae.config import PriorRunConfig, PriorTrainConfig, RunConfig, run_kind
from vqvae.data.datasets import DATASET_TITLES, ImageData, load_data
from vqvae.errors import VQVAEError
from vqvae.files import read_json
from vqvae.models.autoencoder import VQVAE
from vqvae.presets import PRIOR_PRESETS
from vqvae.store.layout import CONFIG, TRAINING, VQVAE_COPY, WEIGHTS


def training_config(folder: Path) -> RunConfig | PriorRunConfig | None:
    """How the model in `folder` was trained: a run folder's config.json, or the
    training.json an exported model carries (its config.json holds only the model). None
    when there is neither; a damaged one is refused in one line (VQVAEError)."""
    for name in (CONFIG, TRAINING):
        saved = read_json(Path(folder) / name)
        if saved is not None and ("model" in saved or "prior" in saved):  # a run's config, not a model's
            return (RunConfig if run_kind(saved) == "vqvae" else PriorRunConfig).from_dict(saved).validate()
    return None



def data_of_vqvae(path: str | Path, model: VQVAE, dataset: str | None = None, root: str | None = None,
                  download: bool = False) -> ImageData:
    """The data a VQ-VAE was trained on: its run's data set (from the run folder's config),
    or `dataset`; a bare grayscale checkpoint defaults to the bundled MNIST."""
    c = model.config
    dataset, root, center_crop, download = data_source_of_vqvae(path, model, dataset, root, download)
    return load_data(dataset, c.in_channels, c.image_size, root, center_crop, download)


def data_source_of_vqvae(path: str | Path, model: VQVAE, dataset: str | None = None, root: str | None = None,
                         download: bool = False) -> tuple[str, str | None, int | None, bool]:
    """(data set, root, center crop, download) of data_of_vqvae, without loading anything."""
    if dataset:
        return dataset, root, None, download
    run = training_config(Path(path))
    if isinstance(run, RunConfig):
        t = run.train
        return t.dataset, root or t.data, t.center_crop, download or t.download
    if model.config.in_channels != 1:
        raise VQVAEError(f"{path} is a colour model without its run folder: name the data with --dataset (and --data)")
    return "mnist", root, None, download


def dataset_of_vqvae(path: str | Path) -> str | None:
    """The data set the VQ-VAE in `path` was trained on, from its run config (an exported
    model's training.json); a bare grayscale checkpoint counts as MNIST, as data_of_vqvae
    takes it. None when unknown or unreadable: for labels, so it never raises."""
    try:
        run = training_config(Path(path))
    except VQVAEError:
        return None
    if isinstance(run, RunConfig):
        return run.train.dataset
    saved = read_json(Path(path) / CONFIG)
    return "mnist" if saved is not None and saved.get("in_channels") == 1 else None


def held_out_of_vqvae(path: str | Path, model: VQVAE) -> tuple[ImageData, str, str | None]:
    """(data, data set, notice): the data the VQ-VAE was trained on (its held-out split is
    what the pages show), fitted to the model. When that data is not here, the bundled set
    of the model's channels (MNIST or Pokémon) stands in, and the notice says so."""
    c = model.config
    try:
        dataset, root, center_crop, download = data_source_of_vqvae(path, model)
        return load_data(dataset, c.in_channels, c.image_size, root, center_crop, download), dataset, None
    except VQVAEError as exc:
        stand_in = "mnist" if c.in_channels == 1 else "pokemon"
        return (load_data(stand_in, c.in_channels, c.image_size), stand_in,
                f"its own data is not here ({exc}): the bundled {DATASET_TITLES[stand_in]} images stand in")


def recorded_data(t: PriorTrainConfig, vqvae: VQVAE, download: bool = False) -> ImageData:
    """The data set a prior run's config names, fitted to its VQ-VAE."""
    return load_data(t.dataset, vqvae.config.in_channels, vqvae.config.image_size, t.data, t.center_crop, download)


def default_prior_preset(vqvae_ref: str | Path) -> str:
    """The prior preset named like the VQ-VAE run's preset, else mnist's."""
    saved = (read_json(Path(vqvae_ref) / CONFIG) if Path(vqvae_ref).is_dir() else None) or {}
    return saved.get("preset") if saved.get("preset") in PRIOR_PRESETS else "mnist"


def vqvae_of_prior(path: str | Path) -> Path:
    """The VQ-VAE a prior was trained on: the vqvae/ copy in its run folder (the path itself,
    or the run holding a checkpoint folder)."""
    path = Path(path)
    for run in (path, path.parent.parent, path.parent.parent.parent):  # RUN, RUN/checkpoints/best(.old)
        if (run / VQVAE_COPY / WEIGHTS).is_file():
            return run / VQVAE_COPY
    raise VQVAEError(f"{path} has no vqvae/ folder beside it: name the prior's VQ-VAE with --vqvae")


def dataset_of_prior(path: str | Path) -> str | None:
    """The data set a prior was trained on (what its class labels mean): its run config (an
    exported prior's training.json), else its VQ-VAE's. None when unknown: for labels, so it
    never raises."""
    try:
        run = training_config(Path(path))
        if isinstance(run, PriorRunConfig) and run.train.dataset:
            return run.train.dataset
        return dataset_of_vqvae(vqvae_of_prior(path))
    except VQVAEError:
        return None
