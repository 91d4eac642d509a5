"""Sample: draw new images from a PixelCNN prior and watch the codes fill in."""

from pathlib import Path

import streamlit as st
import torch

from pages.common import cached_prior, device, picture, png_bytes, run_manager, sidebar
from vqvae import hub
from vqvae.errors import VQVAEError
from vqvae.jobs import run_config
from vqvae.prior_training import stream_samples

active = sidebar()
st.title("Sample from the prior")
st.markdown("A PixelCNN prior learnt which codes follow which. It draws a code grid one position at a "
            "time, left to right, top to bottom; the VQ-VAE decodes the grid as it fills in.")

manager = run_manager()
priors = [name for name in hub.bundled_models() if name.endswith("-prior")]
priors += [str(i.path) for i in manager.list() if i.kind == "prior" and i.state == "done"]
training = [i for i in manager.list() if i.kind == "prior" and i.active]
if training:
    st.info(f"A prior is training in the background: {training[0].name} ({training[0].state}). It appears here when done.")
if not priors:
    st.warning("No prior yet for any VQ-VAE.")
if active.found.source in ("local", "bundled") and st.button("Train a prior for the active VQ-VAE in the background"):
    run = manager.start("train-prior", ["--vqvae", str(active.found.path)], name=f"{active.found.path.name}-prior")
    st.success(f"Started {run.name}: follow it on the Train page or come back here when it is done.")
if not priors:
    st.stop()



def trained_for(prior_ref: str) -> str:
    """The VQ-VAE a prior was trained on, as the sidebar names it."""
    if prior_ref in hub.bundled_models():
        return prior_ref.removesuffix("-prior")  # pretrained/NAME-prior holds NAME's prior
    return str(run_config(prior_ref).get("train", {}).get("vqvae"))


matching = [p for p in priors if trained_for(p) in (active.ref, str(active.found.path))]
if not matching:
    st.caption(f"No prior was trained for {active.ref}: pick another model's prior (it decodes with its own VQ-VAE).")
ref = st.selectbox("Prior", priors, index=priors.index(matching[0]) if matching else 0, format_func=lambda p: Path(p).name,
                   help="bundled priors and finished prior runs; each decodes with the VQ-VAE it was trained on")
try:
    prior, vqvae, found = cached_prior(ref, device())
except VQVAEError as exc:
    st.error(str(exc))
    st.stop()
if found.notice:
    st.info(found.notice)
c = prior.config
cols = st.columns(4)
n = cols[0].number_input("Images", 1, 100, 20)
temperature = cols[1].slider("Temperature", 0.1, 2.0, 1.0, 0.05, help="below 1: safer; above 1: wilder")
seed = cols[2].number_input("Seed", 0, 2**31 - 1, 0)
label = None
if c.n_classes:
    choice = cols[3].selectbox("Digit", ["each in turn", *range(c.n_classes)])
    label = None if choice == "each in turn" else int(choice)

if st.button("Sample", type="primary"):
    try:
        steps = stream_samples(prior, vqvae, int(n), float(temperature), int(seed), label)
    except VQVAEError as exc:
        st.error(str(exc))
        st.stop()
    nrow = c.n_classes if c.n_classes and label is None and n >= c.n_classes else 10
    bar, canvas = st.progress(0.0, text="sampling"), st.empty()
    side = vqvae.config.grid_size
    for progress in steps:
        if progress.done % side == 0 or progress.done == progress.total:  # redraw once per row of codes
            bar.progress(progress.done / progress.total, text=f"{progress.done} of {progress.total} codes")
            with torch.no_grad():
                canvas.image(picture(vqvae.decode(progress.codes), nrow), caption="decoded so far", width="stretch")
    with torch.no_grad():
        images = vqvae.decode(progress.codes)
    canvas.image(picture(images, nrow), caption=f"{int(n)} samples, temperature {temperature}, seed {seed}", width="stretch")
    st.download_button("Download the grid (PNG)", png_bytes(images, nrow), file_name="samples.png", mime="image/png")
