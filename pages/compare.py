"""Compare: two to four codebooks side by side (plain, EMA and the variants of
vqvae.training.variants): a matched set trained at equal code bits per image, curves on
shared axes, code usage, dead codes, the same held-out images reconstructed, a metrics table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from pages.cached import cached_vqvae, held_out, held_out_metrics, held_out_usage
from pages.common import (device, dataset_title, model_label, model_name, run_manager, remember, setting_widget,
                          sidebar, vqvae_choices)
from pages.live import watch
from vqvae.config import ModelConfig, TrainConfig, levels_text
from vqvae.dashboard.pictures import picture
from vqvae.dashboard.plots import model_colours, usage_bars
from vqvae.dashboard.runs import has_checkpoint, training_minutes
from vqvae.data.datasets import to_float
from vqvae.errors import VQVAEError
from vqvae.presets import preset
from vqvae.training.evaluate import reconstruct
from vqvae.training.variants import VARIANTS, bundled_set, comparison_name, matched_set, variant_slug
from vqvae.store import layout
from vqvae.store.run_folder import RunFolder

SET_DATASETS = {"MNIST": "mnist", "Pokémon (colour)": "pokemon"}  # the bundled data sets, each with a bundled set
SET_EPOCHS = {"mnist": 5, "pokemon": 30}  # a first set in minutes on a CPU
SAMPLES = 8  # held-out images reconstructed by each
MODELS = "compare-models"  # the models on the page, 2 to 4
LETTERS = "ABCD"

active = sidebar(needs_model=False)
manager = run_manager()
st.title("Compare codebooks")
st.markdown(
    "The **plain** codebook learns its vectors by gradient descent on a codebook loss; the **EMA** codebook "
    "moves each vector to the running mean of the encoder outputs assigned to it; **SimVQ** learns one linear "
    "map of a frozen random codebook, so every code moves together; **residual VQ** quantises what a first "
    "codebook left with a second one. **FSQ** rounds each number to a few levels, **LFQ** and **BSQ** keep each "
    "number's sign as a bit (BSQ on the unit sphere): none has a codebook to learn. A code that no output picks "
    "is *dead*: it never learns again. Train up to four of them, or their variants, at the same cost in bits, "
    "and see how many codes each keeps alive and what that does to quality."
)

choices = vqvae_choices(unfinished=True)


def show_bundled_set() -> None:
    """A new data set picked: its bundled comparison (when there is one) takes the page."""
    models = bundled_set(SET_DATASETS[st.session_state["compare-data"]], choices)
    if models:
        st.session_state[MODELS] = models


active_title = dataset_title(active.ref) if active else None  # its data set, when it has a bundled set
remember("compare-data", next((shown for shown in SET_DATASETS if active_title and shown.startswith(active_title)),
                              "MNIST"), SET_DATASETS)
shown = st.radio("Data set", list(SET_DATASETS), horizontal=True, key="compare-data", on_change=show_bundled_set,
                 help="the data set of the set to train; picking one shows its bundled comparison below")
dataset = SET_DATASETS[shown]


def train_set(matched: list, seed: int) -> None:
    """Button callback: start every run of the matched set; they take the page."""
    started = []
    try:
        for m in matched:
            started.append(str(manager.start(m.config, name=f"set-{dataset}-K{m.config.model.codebook_size}"
                                                           f"-seed{seed}-{variant_slug(m.name)}")))
    except VQVAEError as exc:
        st.session_state["compare-error"] = str(exc)
    if started:
        st.session_state[MODELS] = started


# Folded: the page opens on results (the bundled comparison, or the set last trained), not on a form.
with st.expander(f"Train a matched set on {shown}"):
    st.markdown("Same data, architecture, seed and epochs, and the same code bits per image; only the codebook "
                "differs.")
    base = preset(dataset)
    a, b, c = st.columns(3)
    size = setting_widget(a, ModelConfig, "codebook_size", base.model.codebook_size, key=f"set-{dataset}-K")
    epochs = setting_widget(b, TrainConfig, "epochs", SET_EPOCHS[dataset], key=f"set-{dataset}-epochs")
    seed = setting_widget(c, TrainConfig, "seed", base.train.seed, key=f"set-{dataset}-seed")
    remember(f"set-{dataset}-variants", ["plain", "ema"],  # a link's list must fit the picker (four, no repeats)
             lambda v: isinstance(v, list) and set(v) <= set(VARIANTS) and len(set(v)) == len(v) <= 4)
    names = st.multiselect("Variants", list(VARIANTS), max_selections=4, key=f"set-{dataset}-variants",
                           help="two to four; FSQ's levels are chosen to make K codes; two levels (VQ-VAE-2) split "
                                "the same bits between a bottom grid and a top grid of half its side")
    base.model.codebook_size, base.train.epochs, base.train.seed = size, epochs, seed
    try:
        matched = matched_set(base, names)
    except VQVAEError as exc:
        matched = []
        st.caption(str(exc))
    if matched:
        st.dataframe(pd.DataFrame([{"variant": m.name, "quantizer": m.config.model.quantizer,
                                    "codes": m.config.model.codebook_size,
                                    "top codes": m.config.model.top_codes if m.config.model.levels == 2 else None,
                                    "FSQ levels": levels_text(m.config.model.fsq_levels) if m.config.model.quantizer == "fsq" else "",
                                    "code bits per image": round(m.bits, 1)} for m in matched]), hide_index=True)
        for m in matched:
            if m.note:
                st.info(m.note)
    st.button("Train the matched set", type="primary", disabled=not matched, on_click=train_set, args=(matched, seed))
    if "compare-error" in st.session_state:
        st.error(st.session_state.pop("compare-error"))

# The models on the page, kept in the URL: a reload or a copied link comes back to the set the user
# trained. One that went away (a deleted run) is dropped; fewer than two left: the bundled set.
remember(MODELS, bundled_set(dataset, choices) or choices[:2], lambda v: isinstance(v, list))
kept = [ref for ref in st.session_state[MODELS] if ref in choices][:4]
if kept != st.session_state[MODELS]:
    st.session_state[MODELS] = kept if len(kept) >= 2 else bundled_set(dataset, choices) or choices[:2]
refs = st.multiselect("Models", choices, key=MODELS, max_selections=4, format_func=model_label,
                      help="two to four: bundled models, finished runs, and runs still training")
if len(refs) < 2:
    st.info("Pick two to four models to compare.")
    st.stop()
if set(refs) <= {comparison_name(dataset, name) for name in VARIANTS}:
    st.caption("The bundled comparison: trained by `scripts/train_all.py` as one matched set (same data, "
               "architecture, seed and epochs, equal code bits per image). Train your own set with the fold above.")
labels = {Path(r): f"{letter}: {model_name(r)}" for letter, r in zip(LETTERS, refs)}
colours = model_colours(list(labels.values()))  # one colour a model, the same on every chart


def model_folder(ref: str) -> Path | None:
    """The folder of a model on the page (a run's, a bundled or downloaded model's, as its
    cached loading found it); None when it cannot be loaded (the page says why below)."""
    if Path(ref).is_dir():
        return Path(ref)
    try:
        return cached_vqvae(ref, device())[1].path
    except VQVAEError:
        return None


folders = {ref: model_folder(ref) for ref in refs}
run_dirs = [Path(r) for r in refs if Path(r).is_dir() and RunFolder(Path(r)).kind()]
histories = {labels[Path(r)]: folder for r, folder in folders.items()  # finished models that carry their curves
             if folder is not None and Path(r) not in run_dirs and (folder / layout.METRICS).is_file()}
if run_dirs or histories:
    st.subheader("Training curves")
    watch(run_dirs, key="compare", labels=labels, histories=histories, colours=colours)
without = [labels[Path(r)] for r in refs if Path(r) not in run_dirs and labels[Path(r)] not in histories]
if without:  # said, so that a missing curve is not taken for a page that failed to draw it
    st.caption(f"No training curves for {', '.join(without)}: a model carries them only when it was exported with "
               f"its run's metrics.jsonl (runs trained here and the bundled comparison do).")

# A member still training shows on the curves only; one that ended without finishing
# (cancelled, failed, killed) is compared at its best checkpoint, and said to be; one with no
# checkpoint at all is left out of the pictures and the table, with the reason.
infos = {ref: manager.info(ref) for ref in refs if Path(ref) in run_dirs}
training = [ref for ref, info in infos.items() if info.active]
unusable = [ref for ref, info in infos.items() if not info.active and info.state != "done"
            and not has_checkpoint(ref)]
for ref in training:  # its state is on its progress line above, which stays live
    st.info(f"{labels[Path(ref)]} is still training: its pictures and numbers appear here when it is done.")
for ref in unusable:
    ended = "was cancelled" if infos[ref].state == "cancelled" else "failed"
    st.warning(f"{labels[Path(ref)]} {ended} before its first checkpoint: nothing to compare. "
               f"{infos[ref].message}".strip())
unfinished = {ref: info.state for ref, info in infos.items() if ref not in training + unusable and info.state != "done"}
first_labels = {ref: labels[Path(ref)] for ref in refs}  # before the state is added: the colours' keys
for ref, state in unfinished.items():
    labels[Path(ref)] += f" ({state}, epoch {infos[ref].status.get('epoch', 0)} of {infos[ref].status.get('epochs', '?')})"
refs = [ref for ref in refs if ref not in training + unusable]
if len(refs) < 1:
    st.stop()

try:
    models = [cached_vqvae(ref, device())[0] for ref in refs]
    usages = [held_out_usage(ref, device()) for ref in refs]
    metrics = [held_out_metrics(ref, device()) for ref in refs]
except VQVAEError as exc:
    st.error(str(exc))
    st.stop()

st.subheader("Code usage on the held-out images")
st.plotly_chart(usage_bars({labels[Path(r)]: u for r, u in zip(refs, usages)},
                           colours={labels[Path(r)]: colours[first_labels[r]] for r in refs}),
                key="compare-usage")
st.subheader("The same held-out images")
columns = st.columns(len(refs))
for column, ref, model in zip(columns, refs, models):
    images = held_out(ref, device()).images[:SAMPLES]
    recon = reconstruct(model, images).reconstruction
    nrow = SAMPLES if len(refs) <= 2 else SAMPLES // 2  # originals then reconstructions, each in whole rows
    column.image(picture(torch.cat([to_float(images, recon.device), recon]), nrow=nrow),
                 caption=f"{labels[Path(ref)]}: originals, reconstructions", width="stretch")

st.subheader("Final numbers (held-out)")
rows = []
for ref, model, usage, m in zip(refs, models, usages, metrics):
    c = model.config
    rows.append({"model": labels[Path(ref)], "quantizer": c.quantizer, "codebook": c.codebook_words, "K": c.codebook_size,
                 "code bits": round(c.code_bits), "PSNR (dB)": m["val_psnr"], "MSE": m["val_mse"], "perplexity": m["perplexity"],
                 "perplexity / K": m["perplexity"] / c.codebook_size, "codes used": int((usage > 0).sum()),
                 "dead codes": int((usage == 0).sum()), "training (min)": training_minutes(folders[ref])})
# Every number at a fixed precision (25.50 beside 25.45, not 25.5), and the long text columns
# given their width, so every column fits a 1,400-pixel window.
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
    "model": st.column_config.TextColumn(width="medium"),
    "codebook": st.column_config.TextColumn(width="medium"),
    "PSNR (dB)": st.column_config.NumberColumn(format="%.2f", width="small"),
    "MSE": st.column_config.NumberColumn(format="%.5f", width="small"),
    "perplexity": st.column_config.NumberColumn(format="%.1f", width="small"),
    "perplexity / K": st.column_config.NumberColumn(format="%.3f", width="small"),
    "training (min)": st.column_config.NumberColumn(format="%.1f", width="small"),
    "quantizer": st.column_config.TextColumn(width="small"),
    **{name: st.column_config.NumberColumn(width="small") for name in ("K", "code bits", "codes used", "dead codes")}})
