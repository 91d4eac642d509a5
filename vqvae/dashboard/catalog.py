"""The models and priors the dashboard offers, and what it says of each: the pickers' lists
(bundled models first, then the runs that have a model to use), which prior goes with which
VQ-VAE, the data set a model was trained on, and the names a model goes by in a picker."""

import time
from pathlib import Path

from vqvae.dashboard.runs import RunInfo, has_checkpoint, vqvae_of_prior_run
from vqvae.data.datasets import DATASET_TITLES
from vqvae.store import hub
from vqvae.store.provenance import dataset_of_prior, dataset_of_vqvae
from vqvae.store.run_folder import RunFolder


def vqvae_choices(runs: list[RunInfo], unfinished: bool = False) -> list[str]:
    """The default model first (the bundled mnist-ema, or the Hub's when one is set), the other
    bundled VQ-VAEs, and every VQ-VAE run of `runs` that finished or has a checkpoint (every
    VQ-VAE run with unfinished=True, for a page that watches them train)."""
    default = hub.default_model("vqvae")
    choices = [default] + [name for name in hub.bundled_models("vqvae") if name != default]
    # a run counts once it has a checkpoint (its best so far is a usable model), also while it is
    # resumed: the active model does not vanish from the sidebar because it trains on
    choices += [str(i.path) for i in runs if i.kind == "vqvae" and (
        unfinished or i.state == "done" or has_checkpoint(i.path))]
    return choices


def priors_trained_for(runs: list[RunInfo]) -> dict[str, str]:
    """Each prior -> the VQ-VAE it was trained on, as the sidebar names it: the bundled ones
    first (pretrained/NAME-prior holds NAME's prior), then the finished prior runs of `runs`."""
    trained_for = {name: name.removesuffix("-prior") for name in hub.bundled_models("prior")}
    done = [i for i in runs if i.kind == "prior" and i.state == "done"]
    return trained_for | {str(i.path): vqvae_of_prior_run(i.path) for i in done}


def prior_of(ref: str, path: Path, trained_for: dict[str, str]) -> str | None:
    """A prior trained on the codes of the VQ-VAE `ref` (found at `path`), when there is one."""
    return next((prior for prior, vqvae in trained_for.items() if vqvae in (ref, str(path))), None)


def dataset_title(ref: str) -> str | None:
    """The name of the data set a local model was trained on ("Pokémon"), for pickers; None
    for a Hub model not yet fetched, or when unknown."""
    path = hub.BUNDLED_DIR / ref if ref in hub.bundled_models() else Path(ref)
    dataset = (dataset_of_vqvae(path) or dataset_of_prior(path)) if path.is_dir() else None
    return DATASET_TITLES.get(dataset, dataset) if dataset else None


def short_label(info: RunInfo) -> str:
    """The name a run was started under (made from its settings) and when it started, from its
    folder's time stamp ("mnist-conv-ema-K32, Dec 3 21:05:17"); the folder's own name where
    it has no stamp."""
    try:
        started = time.strptime(info.name[:15], "%Y%m%d-%H%M%S")
    except ValueError:  # a folder named by hand: its name tells it apart
        return info.name if info.label == info.name else f"{info.label} ({info.name})"
    # a folder without its job's name (started from the command line): the name between stamp and tag
    label = info.name[16:].rsplit("-", 1)[0] if info.label == info.name else info.label
    return f"{label}, {time.strftime('%b', started)} {started.tm_mday} {time.strftime('%H:%M:%S', started)}"


def model_name(ref: str, info_of) -> str:
    """A model's name: a bundled or Hub model's own, a run's as short_label gives it (`info_of`
    reads a run's RunInfo, RunManager.info)."""
    return short_label(info_of(ref)) if RunFolder(Path(ref)).kind() else Path(ref).name


def model_label(name: str, title: str | None) -> str:
    """A model's name in a picker, with its data set's title: "pokemon-ema (Pokémon)"."""
    return f"{name} ({title})" if title else name
