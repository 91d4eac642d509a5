"""What every page shares: cached model loading, the sidebar (device and active VQ-VAE),
and turning tensors into pictures. Pages stay thin; the work happens in `vqvae`."""

from __future__ import annotations

import io

import streamlit as st
import torch
import torchvision.utils as vutils
from PIL import Image

from vqvae import hub
from vqvae.data import bundled_mnist
from vqvae.device import pick_device
from vqvae.errors import VQVAEError
from vqvae.jobs import RunManager
from vqvae.model import load_vqvae
from vqvae.prior_training import load_prior, vqvae_of_prior

ACTIVE = "active_vqvae"


@st.cache_resource(show_spinner="Loading the model...")
def cached_vqvae(ref: str, device: str):
    """(model, where it came from) for a model reference; cached per reference and device."""
    found = hub.locate(ref, "vqvae")
    return load_vqvae(found.path, device), found


@st.cache_resource(show_spinner="Loading the prior...")
def cached_prior(ref: str, device: str):
    """(prior, its VQ-VAE, where it came from)."""
    found = hub.locate(ref, "prior")
    return load_prior(found.path, device), load_vqvae(vqvae_of_prior(found.path), device), found


@st.cache_resource
def held_out():
    return bundled_mnist()


@st.cache_resource
def run_manager() -> RunManager:
    return RunManager()


def device() -> str:
    return str(pick_device())


def vqvae_choices() -> list[str]:
    """Bundled VQ-VAEs, the Hub default when one is set, and every finished VQ-VAE run."""
    choices = [name for name in hub.bundled_models() if not name.endswith("-prior")]
    default = hub.default_model("vqvae")
    if default not in choices:
        choices.insert(0, default)
    choices += [str(i.path) for i in run_manager().list() if i.kind == "vqvae" and i.state == "done"]
    return choices


def sidebar():
    """The device and the active VQ-VAE (which the other pages use); returns (model, located)
    or stops the page with an error when no model can be loaded."""
    st.sidebar.metric("Device", device().upper())
    choices = vqvae_choices()
    if st.session_state.get(ACTIVE) not in choices:
        st.session_state[ACTIVE] = choices[0]
    ref = st.sidebar.selectbox("Active VQ-VAE", choices, key=ACTIVE,
                               help="A bundled model, the Hub model set by VQVAE_HUB_REPO, or a finished run")
    try:
        model, found = cached_vqvae(ref, device())
    except VQVAEError as exc:
        st.error(str(exc))
        st.stop()
    if found.notice:
        st.sidebar.info(found.notice)
    c = model.config
    st.sidebar.caption(f"{c.quantizer} codebook, K = {c.codebook_size}, codes {c.grid_size} x {c.grid_size}, "
                       f"from {found.source}")
    return model, found


def picture(images: torch.Tensor, nrow: int = 8):
    """A batch [N, C, H, W] in [0, 1] as one HWC numpy grid for st.image."""
    grid = vutils.make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def png_bytes(images: torch.Tensor, nrow: int = 8) -> bytes:
    pixels = (picture(images, nrow) * 255).round().astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
