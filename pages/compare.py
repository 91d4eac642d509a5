"""Compare: a plain codebook against an EMA codebook, side by side: curves on shared axes,
code usage, dead codes, the same held-out images reconstructed, and a metrics table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from pages.common import (
    cached_vqvae,
    device,
    dataset_title,
    held_out,
    held_out_metrics,
    held_out_usage,
    model_label,
    picture,
    run_manager,
    setting_widget,
    sidebar,
    vqvae_choices,
)
from pages.live import watch
from vqvae.config import ModelConfig, TrainConfig
from vqvae.dashboard.plots import usage_bars
from vqvae.data.datasets import to_float
from vqvae.errors import VQVAEError
from vqvae.presets import preset
from vqvae.training import runs
from vqvae.training.evaluate import reconstruct

SIDES = {"A": "plain", "B": "ema"}  # widget key suffix -> quantizer of the bundled model it starts on
PAIR_DATASETS = {"MNIST": "mnist", "Pokémon (colour)": "pokemon"}  # the bundled data sets, each with a bundled pair
PAIR_EPOCHS = {"mnist": 5, "pokemon": 30}  # a first pair in minutes on a CPU
SAMPLES = 8  # held-out images reconstructed by both

active = sidebar(needs_model=False)
manager = run_manager()
st.title("Plain vs EMA codebook")
st.markdown(
    "The **plain** codebook learns its vectors by gradient descent on a codebook loss; the **EMA** codebook "
    "moves each vector to the running mean of the encoder outputs assigned to it. A code that no output picks "
    "is *dead*: it never learns again. Compare how many codes each keeps alive and what that does to quality."
)

choices = vqvae_choices(unfinished=True)


def show_bundled_pair() -> None:
    """A new data set picked: its bundled pair (when there is one) takes the page."""
    dataset = PAIR_DATASETS[st.session_state["compare-data"]]
    for side, quantizer in SIDES.items():
        if f"{dataset}-{quantizer}" in choices:
            st.session_state[f"compare-{side}"] = f"{dataset}-{quantizer}"


if "compare-data" not in st.session_state:  # the active model's data set, when it has a bundled pair
    active_title = dataset_title(active.ref) if active else None
    st.session_state["compare-data"] = next((shown for shown, name in PAIR_DATASETS.items()
                                            if active_title and shown.startswith(active_title)), "MNIST")
shown = st.radio("Data set", list(PAIR_DATASETS), horizontal=True, key="compare-data", on_change=show_bundled_pair,
                 help="the data set of the pair to train; picking one shows its bundled pair below")
dataset = PAIR_DATASETS[shown]
with st.form("pair"):
    st.markdown(f"**Train a matched pair on {shown}**: same data, architecture, K, seed and epochs; only the "
                "quantizer differs.")
    pair = preset(dataset)
    a, b, c = st.columns(3)
    size = setting_widget(a, ModelConfig, "codebook_size", pair.model.codebook_size, key=f"pair-{dataset}-K")
    epochs = setting_widget(b, TrainConfig, "epochs", PAIR_EPOCHS[dataset], key=f"pair-{dataset}-epochs")
    seed = setting_widget(c, TrainConfig, "seed", pair.train.seed, key=f"pair-{dataset}-seed")
    launch = st.form_submit_button("Train the pair", type="primary")
if launch:
    pair.model.codebook_size, pair.train.epochs, pair.train.seed = size, epochs, seed
    try:
        for side, quantizer in SIDES.items():
            pair.model.quantizer = quantizer
            run = manager.start(pair, name=f"pair-{dataset}-K{size}-seed{seed}-{quantizer}")
            st.session_state[f"compare-{side}"] = str(run)  # the new pair takes the page
    except VQVAEError as exc:
        st.error(str(exc))

refs = []
for column, (side, quantizer) in zip(st.columns(2), SIDES.items()):
    if st.session_state.get(f"compare-{side}") not in choices:
        default = f"{dataset}-{quantizer}"
        st.session_state[f"compare-{side}"] = default if default in choices else choices[0]
    refs.append(column.selectbox(f"Model {side}", choices, format_func=model_label, key=f"compare-{side}"))
labels = {Path(r): f"{side}: {Path(r).name}" for side, r in zip(SIDES, refs)}

run_dirs = [Path(r) for r in refs if Path(r).is_dir() and runs.kind_of_run(Path(r))]
if run_dirs:
    st.subheader("Training curves")
    watch(run_dirs, key="compare", labels=labels)

pending = [info for info in map(manager.info, run_dirs) if info.state != "done"]
for info in pending:  # its state is on its progress line above, which stays live
    st.info(f"{info.name} has not finished: its pictures and numbers appear here when it is done.")
if pending:
    st.stop()

try:
    models = [cached_vqvae(ref, device())[0] for ref in refs]
    usages = [held_out_usage(ref, device()) for ref in refs]
    metrics = [held_out_metrics(ref, device()) for ref in refs]
except VQVAEError as exc:
    st.error(str(exc))
    st.stop()

st.subheader("Code usage on the held-out images")
st.plotly_chart(usage_bars({labels[Path(r)]: u for r, u in zip(refs, usages)}), key="compare-usage")
st.subheader("The same held-out images")
columns = st.columns(2)
for column, ref, model in zip(columns, refs, models):
    images = held_out(ref, device()).images[:SAMPLES]
    recon = reconstruct(model, images).reconstruction
    column.image(picture(torch.cat([to_float(images, recon.device), recon]), nrow=SAMPLES), caption=f"{labels[Path(ref)]}: originals, reconstructions",
                 width="stretch")

st.subheader("Final numbers (held-out)")
rows = []
for ref, model, usage, m in zip(refs, models, usages, metrics):
    c = model.config
    rows.append({"model": labels[Path(ref)], "quantizer": c.quantizer, "K": c.codebook_size,
                 "PSNR (dB)": round(m["val_psnr"], 2), "MSE": round(m["val_mse"], 5),
                 "perplexity": round(m["perplexity"], 1), "perplexity / K": round(m["perplexity"] / c.codebook_size, 3),
                 "codes used": int((usage > 0).sum()), "dead codes": int((usage == 0).sum())})
st.dataframe(pd.DataFrame(rows), hide_index=True)
