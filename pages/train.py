"""Train: launch a VQ-VAE run in the background, watch it learn, slide the codebook size and
retrain with everything else unchanged; every run is listed with its final metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import (
    ACTIVE,
    data_problem,
    remember,
    run_manager,
    setting_widget,
    sidebar,
    widget_value,
)
from pages.live import POLL_S, WATCHED, watch
from vqvae.dashboard.catalog import short_label
from vqvae.dashboard.runs import describe, has_checkpoint, planned_epochs, resumable
from vqvae.data import download
from vqvae.errors import VQVAEError
from vqvae.presets import preset

# data set shown -> (preset, what it needs)
DATASETS = {
    "MNIST": ("mnist", "bundled 10k split, or the full set under data/MNIST"),
    "Pokémon (colour)": ("pokemon", "bundled: the second tutorial's 800 artworks, 64 x 64"),
    "Fashion-MNIST": ("fashion", "torchvision's FashionMNIST files under data/FashionMNIST"),
    "CIFAR-10": ("cifar10", "torchvision's cifar-10-batches-py under data/"),
    "Image folder (CelebA-HQ, ...)": ("celeba64", "a folder of images, e.g. CelebA-HQ"),
}
FIRST_RUN_EPOCHS = {"mnist": 5, "fashion": 5, "pokemon": 30}

sidebar(needs_model=False)
manager = run_manager()
st.title("Train a VQ-VAE")
st.markdown(f"Each run is a background process with its own folder under `{manager.root}`: it keeps going when "
            f"you leave the page, and the page finds it again after a reload or a restart.")

everything = manager.list()
vqvae_runs = [i for i in everything if i.kind == "vqvae"]
if WATCHED not in st.session_state:  # a new session: the newest VQ-VAE run (to retrain) and any run under way
    st.session_state[WATCHED] = list(dict.fromkeys([i.path for i in vqvae_runs[:1]] + [i.path for i in everything
                                                                                     if i.active]))

remember("train-dataset", next(iter(DATASETS)), DATASETS)
shown = st.selectbox("Data set", list(DATASETS), key="train-dataset", help="each comes with its preset's architecture")
name, needs = DATASETS[shown]
base = preset(name)
if base.train.dataset == "folder":
    remember("train-folder", "", lambda v: isinstance(v, str))
    folder = st.text_input("Image folder", key="train-folder", help=needs)
else:
    folder = None
problem = data_problem(base.train.dataset, folder or None)
dataset = base.train.dataset
# A torchvision set that is not here can be fetched (for MNIST the full set: the bundled split stands in meanwhile).
from_torchvision = dataset in download.DOWNLOADABLE and not folder
job = download.download_job(dataset) if from_torchvision else None
fetchable = from_torchvision and not download.present(dataset)
if job is not None and job.state == "done" and problem and st.session_state.get("download-seen") != id(job):
    st.session_state["download-seen"] = id(job)  # it ended while no page watched: look again, once
    data_problem.clear()
    problem = data_problem(dataset, None)


@st.fragment(run_every=POLL_S)
def download_progress(dataset: str, title: str) -> None:
    running = download.download_job(dataset)
    if running is None or running.state != "running":
        data_problem.clear()  # the set is usable at once (or the error shows)
        st.rerun()
    st.progress(running.fraction or 0.0, text=f"Downloading {title}: {running.describe()}")


if problem or fetchable:
    note, action = st.columns([3, 1], vertical_alignment="center") if fetchable else (st, None)  # room for the label
    if problem:
        note.warning(f"{problem} ({needs})")
    else:
        note.info(f"Training on the bundled 10k MNIST split: the full set (70,000 images) is not in "
                  f"{download.target_folder(dataset)}")
    if fetchable:
        title = "the full MNIST" if dataset == "mnist" else shown
        action.button(f"Download {title}", on_click=download.start_download, args=(dataset,),
                      disabled=job is not None and job.state == "running",
                      help=f"into {download.target_folder(dataset)}; it goes on when you leave the page")
        if job is not None and job.state == "running":
            download_progress(dataset, title)
        elif job is not None and job.message and st.session_state.get("download-dismissed") != id(job):
            # said until dismissed or tried again, not on every later visit
            note, dismiss = st.columns([5, 1], vertical_alignment="center")
            note.error(job.message)
            dismiss.button("Dismiss", on_click=lambda: st.session_state.update({"download-dismissed": id(job)}))

form = "train-" + name  # widget keys: each data set's settings start from its own preset's values


# (section, setting) of each widget, in three columns; everything else comes from the preset
FORM = [[("model", "arch"), ("model", "quantizer"), ("model", "restart_dead_codes")],
        [("model", "codebook_size"), ("model", "code_dim"), ("model", "beta")],
        [("train", "epochs"), ("train", "lr"), ("train", "seed")]]


# The codebook variants, in a fold of their own: each starts at the preset's value.
VARIANTS = [[("model", "fsq_levels"), ("model", "codebook_init"), ("model", "straight_through"), ("model", "residual_depth")],
            [("model", "ema_bias_correction"), ("model", "cosine_codebook"), ("model", "lookup_dim"),
             ("model", "entropy_weight")],
            [("model", "dead_code_window"), ("model", "levels"), ("model", "top_codebook_size")]]


def chosen_config():
    """The preset with the form's values: the run the Start button launches."""
    cfg = preset(name)
    for column in FORM + VARIANTS:
        for section, setting in column:
            settings = getattr(cfg, section)
            setattr(settings, setting, widget_value(type(settings), setting, f"{form}-{setting}"))
    cfg.train.data = folder or cfg.train.data
    return cfg


def start_run() -> None:
    """Form callback (runs before the page is drawn again, so the charts and the retrain
    button already know the new run)."""
    cfg = chosen_config()
    try:
        cfg = cfg.validate()  # a bad setting (FSQ levels "8,1") is said here, before any run folder exists
        run = manager.start(cfg, name=f"{name}-{cfg.model.arch}-{cfg.model.quantizer}-K{cfg.model.codebook_size}")
    except VQVAEError as exc:
        st.session_state["train-error"] = str(exc)
        return
    st.session_state[WATCHED] = [run]
    st.session_state["train-run"] = str(run)  # the run picker below moves to the new run


def last_vqvae_watched() -> Path | None:
    """The newest VQ-VAE run on the charts: the one "Retrain" changes (priors may be watched too)."""
    return next((Path(p) for p in reversed(st.session_state.get(WATCHED, []))
                 if manager.info(p).kind == "vqvae"), None)


def retrain() -> None:
    """The last run's settings exactly, with the slider's codebook size."""
    last, size = last_vqvae_watched(), st.session_state[f"{form}-codebook_size"]
    stem = re.sub(r"-K\d+$", "", manager.info(last).label)
    try:
        run = manager.start_like(last, name=f"{stem}-K{size}", codebook_size=size)
    except VQVAEError as exc:
        st.session_state["train-error"] = str(exc)
        return
    st.session_state[WATCHED] = [*st.session_state[WATCHED], run]
    st.session_state["train-run"] = str(run)


with st.container(border=True):  # not a form: every choice is kept at once, across pages too
    # Epochs start low where an epoch takes seconds: a first run in a few minutes on a CPU
    # (the MNIST preset trains 20 epochs, the Pokémon one 150).
    start_values = {"epochs": FIRST_RUN_EPOCHS.get(name, base.train.epochs)}
    for where, column in zip(st.columns(3), FORM):
        for section, setting in column:
            settings = getattr(base, section)
            value = start_values.get(setting, getattr(settings, setting))
            setting_widget(where, type(settings), setting, value, key=f"{form}-{setting}")
    with st.expander("Codebook variants: FSQ levels, k-means init, the rotation trick, residual VQ's depth, "
                     "bias-corrected EMA, cosine and low-dimensional lookup, LFQ's and BSQ's entropy weight, "
                     "two levels (VQ-VAE-2)"):
        for where, column in zip(st.columns(3), VARIANTS):
            for section, setting in column:
                settings = getattr(base, section)
                setting_widget(where, type(settings), setting, getattr(settings, setting), key=f"{form}-{setting}")
    st.button("Start a run", type="primary", disabled=bool(problem), on_click=start_run)
    has_run = last_vqvae_watched() is not None
    st.button("Retrain the last run with this K", disabled=not has_run, on_click=retrain,
              help="the last run's settings exactly, only the codebook size changed; its curves overlay"
                   + ("" if has_run else " (start a run first: there is none to retrain yet)"))
if "train-error" in st.session_state:
    st.error(st.session_state.pop("train-error"))

watched = [Path(p) for p in st.session_state.get(WATCHED, [])]
if watched:
    st.subheader("Live")
    watch(watched, key="train")

st.subheader("All runs")
if not everything:
    st.caption("No runs yet.")
    st.stop()


def resume_section(info, where) -> None:
    """Continue a cancelled, failed or killed run from its last checkpoint (or a finished one
    for more epochs), in the background, on the charts at once."""
    known = planned_epochs(info)
    planned = known or 1
    epochs = where.number_input("Epochs in all", 1, max(10_000, planned), planned, key=f"resume-epochs-{info.name}",
                                help="train until this many epochs; above the run's own to go further")
    more = info.state != "done" or (known is not None and epochs > planned)
    if not (resumable(info) and more):
        reason = ("it is still running" if info.active else "it saved no checkpoint to continue from"
                  if not resumable(info) else "its epoch count is unreadable" if known is None
                  else f"it is done: raise the epochs above {planned} to go further")
        where.button("Resume", disabled=True, help=f"cannot resume: {reason}", key="resume-disabled")
        return
    if where.button("Resume", type="primary", help="continue from its last checkpoint, in the background"):
        try:
            manager.resume(info.path, epochs=int(epochs) if epochs != planned else None)
        except VQVAEError as exc:
            st.error(str(exc))
            return
        st.session_state[WATCHED] = [*[p for p in st.session_state.get(WATCHED, []) if Path(p) != info.path], info.path]
        st.rerun()


@st.fragment(run_every=POLL_S if any(i.active for i in everything) else None)
def runs_table():
    rows = pd.DataFrame([describe(i) for i in manager.list()]).convert_dtypes()
    st.dataframe(rows, hide_index=True,
                 column_config={"val_psnr": st.column_config.NumberColumn("best held-out PSNR (dB)", format="%.2f"),
                                "val_nll": st.column_config.NumberColumn("best held-out NLL (nats)", format="%.3f")})


runs_table()
remember("train-run", str(everything[0].path), [str(i.path) for i in everything])
pick = st.selectbox("Run", [str(i.path) for i in everything], key="train-run",
                    format_func=lambda p: short_label(manager.info(p)))
info = manager.info(pick)
if info.state == "failed":
    st.error(f"{info.name} failed: {info.message}")
a, b, c, d = st.columns(4, vertical_alignment="bottom")
if a.button("Cancel", disabled=not info.active, help="it saves its last checkpoint and ends cancelled"):
    manager.cancel(pick)
    st.rerun()
if b.button("Show on the charts", disabled=Path(pick) in watched):
    st.session_state[WATCHED] = [*watched, Path(pick)]
    st.rerun()
usable = info.kind == "vqvae" and not info.active and has_checkpoint(pick)
c.button("Make it the active model", disabled=not usable, on_click=lambda: st.session_state.update({ACTIVE: pick}),
         help="the sidebar's model, used by the other pages" + ("" if info.state == "done" or not usable else
                                                                 " (its best checkpoint so far)"))
resume_section(info, d)
