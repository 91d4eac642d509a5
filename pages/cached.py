"""The dashboard's cached models and numbers: each loaded or computed once per model (and
per version of a run's weights, so a resumed run is not hidden behind its old weights)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from vqvae.dashboard.held_out import HeldOut, held_out_of
from vqvae.errors import VQVAEError
from vqvae.models.metrics import code_usage
from vqvae.models.two_level import encode_image_grids
from vqvae.store import checkpoints, hub, layout
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.store.provenance import vqvae_of_prior
from vqvae.training.evaluate import evaluate
from vqvae.training.rate_distortion import weigh
from vqvae.training.sample_quality import classifier_for


def weights_version(ref: str) -> int | None:
    """When a run's best checkpoint was last written (ns), None for a bundled or Hub model: a
    run resumed in the same folder gets new weights, which the caches must not hide."""
    folder = checkpoints.resolve_checkpoint_or_none(Path(ref), "best") if Path(ref).is_dir() else None
    try:
        return (folder / layout.WEIGHTS).stat().st_mtime_ns if folder else None
    except OSError:
        return None


def cached_vqvae(ref: str, device: str):
    """(model, where it came from) for a model reference; cached per reference, device and
    version of its weights."""
    return _vqvae(ref, device, weights_version(ref))


@st.cache_resource(show_spinner="Loading the model...", max_entries=32)
def _vqvae(ref: str, device: str, version: int | None):
    found = hub.locate(ref, "vqvae")
    return load_vqvae(found.path, device), found


@st.cache_resource(show_spinner="Loading the prior...")
def cached_prior(ref: str, device: str):
    """(prior, its VQ-VAE, where it came from)."""
    found = hub.locate(ref, "prior")
    return load_prior(found.path, device), load_vqvae(vqvae_of_prior(found.path), device), found


@st.cache_resource(show_spinner="Coding the picture with the prior, and with JPEG and WebP...", max_entries=8)
def cached_weighing(prior_ref: str, key: tuple, _images: torch.Tensor, picture_size: tuple[int, int] | None):
    """(the Weighed picture, JPEG's and WebP's curves on it), for the picture `key` names;
    the codec runs on the CPU, where its probabilities are the same every time."""
    prior, vqvae, _ = cached_prior(prior_ref, "cpu")
    weighed = weigh(prior, vqvae, _images, picture_size)
    return weighed, weighed.curves()


@st.cache_resource(show_spinner="Loading the classifier...")
def cached_classifier(dataset: str, device: str):
    """The bundled classifier of a data set (MNIST's digits), or None when it has none."""
    try:
        return load_classifier(classifier_for(dataset), device)
    except VQVAEError:
        return None


@st.cache_resource(show_spinner="Loading the held-out images...")
def held_out(ref: str, device: str) -> HeldOut:
    """The held-out images of the data set the model `ref` was trained on."""
    model, found = cached_vqvae(ref, device)
    return held_out_of(found.path, model)


def held_out_usage(ref: str, device: str, level: str = "bottom") -> torch.Tensor:
    """How often each code of the model `ref` occurs on its held-out split, [K] (of the
    bottom level or, for a two-level model, the top one)."""
    return _usage(ref, device, weights_version(ref))[level == "top"]


@st.cache_resource(show_spinner="Counting code usage on the held-out images...", max_entries=32)
def _usage(ref: str, device: str, version: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    model, _ = cached_vqvae(ref, device)
    top, bottom = encode_image_grids(model, held_out(ref, device).images)
    c = model.config
    return code_usage(bottom, c.codebook_size), None if top is None else code_usage(top, c.top_codes)


def held_out_metrics(ref: str, device: str) -> dict:
    """Held-out MSE, PSNR, perplexity and codes used of the model `ref` on its held-out split."""
    return _metrics(ref, device, weights_version(ref))


@st.cache_resource(show_spinner="Evaluating on the held-out images...", max_entries=32)
def _metrics(ref: str, device: str, version: int | None) -> dict:
    model, _ = cached_vqvae(ref, device)
    return evaluate(model, held_out(ref, device).images)
