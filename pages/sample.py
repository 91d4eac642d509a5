"""Sample: draw new images from a PixelCNN prior and watch the codes fill in."""

from pathlib import Path

import streamlit as st
import torch

from pages.common import (
    SHOWN_PIXELS,
    cached_prior,
    device,
    model_label,
    picture,
    png_bytes,
    priors_trained_for,
    run_manager,
    sidebar,
)
from pages.live import POLL_S
from vqvae.dashboard.codebook_view import atlas, enlarge
from vqvae.dashboard.plots import entropy_map
from vqvae.dashboard.scores import SETTINGS, read_score, score_file, score_job, start_scoring
from vqvae.data.datasets import class_names
from vqvae.errors import VQVAEError
from vqvae.models.sampling import Sampling, grid_columns, stream_samples
from vqvae.models.stepping import StepSampler
from vqvae.training.prior_trainer import dataset_of_prior, new_prior_config

active = sidebar(needs_model=False)  # any prior samples with its own VQ-VAE
st.title("Sample from the prior")
st.markdown("A PixelCNN prior learnt which codes follow which. It draws a code grid one position at a "
            "time, left to right, top to bottom; the VQ-VAE decodes the grid as it fills in.")

manager = run_manager()
listed = manager.list()
prior_runs = [i for i in listed if i.kind == "prior"]
trained_for = priors_trained_for(listed)
priors = list(trained_for)
training = [i for i in prior_runs if i.active]
if training:
    st.info(f"A prior is training in the background: {training[0].name} ({training[0].state}). It appears here when done.")

matching = [p for p, vqvae in trained_for.items() if active and vqvae in (active.ref, str(active.found.path))]
if active and not matching and not training:
    st.info(f"No prior was trained for the active model {Path(active.ref).name}: train one in the background "
            "(about a quarter of an hour on a 2-core CPU for MNIST), or sample from another model's prior, which decodes with "
            "its own VQ-VAE.")
    if active.found.source in ("local", "bundled") and st.button("Train a prior for the active VQ-VAE in the background"):
        try:
            run = manager.start(new_prior_config(active.found.path), name=f"{active.found.path.name}-prior")
            st.success(f"Started {run.name}: its progress is on the Train page; it appears here when it is done.")
        except VQVAEError as exc:
            st.error(str(exc))
if not priors:
    st.stop()
ref = st.selectbox("Prior", priors, index=priors.index(matching[0]) if matching else 0, format_func=model_label,
                   help="bundled priors and finished prior runs; each decodes with the VQ-VAE it was trained on")
try:
    prior, vqvae, found = cached_prior(ref, device())
except VQVAEError as exc:
    st.error(str(exc))
    st.stop()
if found.notice:
    st.info(found.notice)
c = prior.config


def show_score(kept: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("Label accuracy", f"{kept['label_accuracy']:.1%}",
                   help="how often the classifier names the class that was asked for")
    cols[1].metric("Fréchet distance", f"{kept['frechet_distance']:.2f}",
                   help="between the classifier's features of the samples and of real held-out images: lower is better")
    cols[2].metric("Ceiling: reconstructions", f"{kept['reconstruction_label_accuracy']:.1%} · "
                                              f"{kept['reconstruction_frechet_distance']:.2f}",
                   help="the same two numbers for the held-out images' VQ-VAE reconstructions: the best a prior "
                        "over these codes can do")
    cols[3].metric("Judge's accuracy", f"{kept['classifier_accuracy']:.1%}",
                   help="the classifier, trained on real training images only, on the real held-out images")
    st.caption(f"{kept['n']} samples, the classes in turn, temperature {kept['temperature']:g}, seed {kept['seed']}, "
               f"judged by the bundled {kept.get('classifier', 'classifier')}; `python -m vqvae score --prior ...` "
               f"gives the same numbers.")


@st.fragment(run_every=POLL_S)
def scoring_progress(path: Path) -> None:
    job = score_job(path)
    if job is None or job.state != "running":
        st.rerun()  # the whole page: the score (or why it failed) shows in its place
    st.caption(f"Scoring this prior in the background: {SETTINGS['n']} samples judged by the classifier "
               f"(seconds on a CPU; the page stays usable)...")


def sample_quality(prior_folder: Path) -> None:
    """The prior's sample-quality score: kept from an earlier visit, else computed in the
    background this once."""
    with st.expander("Sample quality", expanded=True):
        try:  # a prior of a data set with no classifier (Pokémon) is said here too
            path = score_file(prior_folder)
        except VQVAEError as exc:
            st.caption(f"No score for this prior: {exc}.")
            return
        kept = read_score(path)
        if kept is not None:
            show_score(kept)
            return
        job = score_job(path)
        if job is not None and job.state == "failed":
            st.error(job.message)
            st.button("Score again", on_click=start_scoring, args=(prior_folder, path, device()))
            return
        if job is None or job.state == "done":  # done but unreadable: the file was removed or damaged since
            start_scoring(prior_folder, path, device())
        scoring_progress(path)

cols = st.columns(4)
# About 20 images; for a class-conditional prior a whole number of rows, one class per column.
n = cols[0].number_input("Images", 1, 100, c.n_classes * max(1, 20 // c.n_classes) if c.n_classes else 20, key="sample-n")
temperature = cols[1].slider("Temperature", 0.1, 2.0, 1.0, 0.05, key="sample-temperature", help="below 1: safer; above 1: wilder")
seed = cols[2].number_input("Seed", 0, 2**31 - 1, 0, key="sample-seed")
filters = st.columns(4)
top_k = filters[0].number_input("Top-k", 0, c.codebook_size, 0, key="sample-top-k",
                                help="draw each code from the k likeliest only; 0 keeps every code, 1 always takes the likeliest")
top_p = filters[1].slider("Top-p", 0.05, 1.0, 1.0, 0.05, key="sample-top-p",
                          help="nucleus sampling: from the fewest likeliest codes whose probability reaches p; 1 keeps every code")
top_k, top_p = (int(top_k) or None), (float(top_p) if top_p < 1 else None)
STREAM, STEP = "stream", "step"
mode = filters[2].radio("Mode", [STREAM, STEP], horizontal=True, key="sample-mode",
                        format_func={STREAM: "Whole grids", STEP: "Step through"}.get,
                        help="whole grids: the codes stream in; step through: one image, one position at a time, "
                             "with the prior's choices shown and yours taken")
label = None
dataset = dataset_of_prior(found.path)
names = class_names(dataset)
if not names or len(names) != c.n_classes:  # labels of unknown meaning: their numbers
    names = [str(i) for i in range(c.n_classes)]
kind = {"mnist": "digit", "pokemon": "type"}.get(dataset, "class")
if c.n_classes:
    choice = cols[3].selectbox(kind.capitalize(), ["each in turn", *range(c.n_classes)], key=f"sample-{kind}",
                               format_func=lambda v: v if isinstance(v, str) else names[v],
                               help=f"draw every image of one {kind}, or one {kind} per column")
    label = None if choice == "each in turn" else int(choice)

LAST = "sample-last-grid"  # the newest grid (images, nrow, caption): it stays when a widget changes


def what(n: int, label: int | None, nrow: int) -> str:
    if label is not None:
        which = f"of the {kind} {names[label]}"
    elif c.n_classes and nrow == c.n_classes:  # grid_columns gave each class a column
        which = f"one {kind} per column, left to right: {', '.join(names)}"
    else:
        which = f"{kind}s in turn" if c.n_classes else ""
    filtered = "".join(f", {name} {value:g}" for name, value in (("top-k", top_k), ("top-p", top_p)) if value)
    return f"{n} sample{'s' if n != 1 else ''} {which}, temperature {temperature:g}{filtered}, seed {seed}"


def show(images: torch.Tensor, nrow: int, caption: str, where=st):
    # a few images are enlarged by whole pixels, not stretched blurry across the page
    where.image(picture(images, nrow, pixels=SHOWN_PIXELS // 2), caption=caption,
                width="stretch" if len(images) >= nrow else "content")


STEPPER, TOP_SHOWN = "sample-stepper", 8  # the step-mode sampler; the likeliest next codes shown


def stepper_for_settings() -> StepSampler:
    """The step-mode sampler of these settings: kept across reruns, new when a setting changes."""
    settings = (ref, float(temperature), top_k, top_p, int(seed), label)
    held = st.session_state.get(STEPPER)
    if held is None or held[0] != settings:
        held = settings, StepSampler(prior, vqvae, Sampling(float(temperature), top_k, top_p), int(seed), label)
        st.session_state[STEPPER] = held
    return held[1]


def step_mode() -> None:
    try:
        stepper = stepper_for_settings()
    except VQVAEError as exc:
        st.error(str(exc))
        st.stop()
    finished = stepper.done >= stepper.total
    buttons = st.columns(4)
    buttons[0].button("Next", type="primary", disabled=finished, on_click=stepper.step)
    buttons[1].button("Next row", disabled=finished, on_click=stepper.to_row_end)
    buttons[2].button("To the end", disabled=finished, on_click=stepper.run, args=(stepper.total,))
    buttons[3].button("Start again", on_click=lambda: st.session_state.pop(STEPPER, None))
    row, column = stepper.position
    which = f"of the {kind} {names[label if label is not None else 0]}, " if c.n_classes else ""
    left, middle, right = st.columns([2, 3, 3])
    left.image(picture(stepper.decoded().cpu(), 1, pixels=SHOWN_PIXELS), width="stretch",
               caption=f"{stepper.done} of {stepper.total} codes drawn, {which}"
                       f"{int(stepper.picked.sum())} of them picked by you")
    middle.plotly_chart(entropy_map(stepper.entropy, None if finished else (row, column), c.codebook_size),
                        width="stretch")
    if finished:
        right.success("Every position is drawn: start again, or change a setting for a new sample.")
        return
    codes, probs = stepper.top(TOP_SHOWN)
    codes, probs = codes.tolist(), probs.tolist()
    shown = [(code, p) for code, p in zip(codes, probs) if p > 0]
    right.markdown(f"**Next: row {row}, column {column}.** The prior's likeliest codes there:")
    tiles = enlarge(atlas(vqvae, 3, torch.tensor([code for code, _ in shown])), SHOWN_PIXELS // 4)
    right.image([t.permute(1, 2, 0).numpy() for t in tiles], width=SHOWN_PIXELS // 4 + 4,
                caption=[f"{code}: {p:.1%}" for code, p in shown])
    chance = {code: p for code, p in shown}
    right.selectbox("Take instead", list(chance), key="sample-pick", format_func=lambda code: f"code {code} ({chance[code]:.1%})",
                    help="the following positions are drawn given your choice")
    right.button("Take this code", on_click=lambda: stepper.step(int(st.session_state["sample-pick"])))


if mode == STEP:
    step_mode()
else:
    if st.button("Sample", type="primary"):
        try:
            steps = stream_samples(prior, vqvae, int(n), float(temperature), int(seed), label, top_k, top_p)
        except VQVAEError as exc:
            st.error(str(exc))
            st.stop()
        nrow = grid_columns(int(n), c.n_classes, label)
        bar, canvas = st.progress(0.0, text="sampling"), st.empty()
        side = vqvae.config.grid_size
        for progress in steps:
            if progress.done % side == 0 or progress.done == progress.total:  # redraw once per row of codes
                bar.progress(progress.done / progress.total, text=f"{progress.done} of {progress.total} codes")
                with torch.no_grad():
                    show(vqvae.decode(progress.codes), nrow, "decoded so far", canvas)
        with torch.no_grad():
            images = vqvae.decode(progress.codes).cpu()
        canvas.empty()
        st.session_state[LAST] = (images, nrow, what(int(n), label, nrow))
    if LAST in st.session_state:
        images, nrow, caption = st.session_state[LAST]
        show(images, nrow, caption)
        st.download_button("Download the grid (PNG)", png_bytes(images, nrow), file_name="samples.png", mime="image/png",
                           on_click="ignore")

sample_quality(found.path)
