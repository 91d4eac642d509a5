"""Sample: draw new images from a PixelCNN prior and watch the codes fill in."""

from pathlib import Path

import streamlit as st
import torch

from pages.cached import cached_prior
from pages.common import SHOWN_PIXELS, device, model_label, priors_trained_for, remember, run_manager, sidebar
from pages.live import POLL_S, WATCHED
from vqvae.dashboard.codebook_view import enlarge, frame
from vqvae.dashboard.pictures import picture, png_bytes
from vqvae.dashboard.plots import entropy_map
from vqvae.dashboard.score_view import show_score
from vqvae.dashboard.scores import SETTINGS, read_score, score_file, score_job, start_scoring
from vqvae.data.datasets import class_kind, class_names
from vqvae.errors import VQVAEError
from vqvae.models.sampling import Sampling, decode_progress, grid_columns, sample_labels, stream_samples
from vqvae.models.sampling_film import SamplingFilm
from vqvae.models.stepping import StepSampler
from vqvae.store.provenance import dataset_of_prior
from vqvae.training.prior_trainer import new_prior_config
from vqvae.store.run_folder import RunFolder

active = sidebar(needs_model=False)  # any prior samples with its own VQ-VAE
st.title("Sample from the prior")
st.markdown("A PixelCNN prior learnt which codes follow which. It draws a code grid one position at a "
            "time, left to right, top to bottom; the VQ-VAE decodes the grid as it fills in. A two-level "
            "model's prior draws its small top grid first (the layout), then the bottom grid given it (the detail).")

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
            folder = active.found.path  # a run's own name, not its time-stamped folder's
            of = manager.info(folder).label if RunFolder(folder).kind() else folder.name
            run = manager.start(new_prior_config(folder), name=f"prior-of-{of}")
            st.session_state[WATCHED] = [*st.session_state.get(WATCHED, []), run]
            st.success(f"Started {run.name}: its progress and curves are on the Train page; it appears here when "
                       f"it is done.")
        except VQVAEError as exc:
            st.error(str(exc))
if not priors:
    st.stop()
# The prior follows the active model when that changes (its own prior, when it has one); the
# user's own pick is kept otherwise, across pages and reloads.
if active:
    if st.session_state.get("sample-prior-for") not in (None, active.ref) and matching:
        st.session_state["sample-prior"] = matching[0]
    st.session_state["sample-prior-for"] = active.ref
remember("sample-prior", matching[0] if matching else priors[0], priors)
ref = st.selectbox("Prior", priors, key="sample-prior", format_func=model_label,
                   help="bundled priors and finished prior runs; each decodes with the VQ-VAE it was trained on")
try:
    prior, vqvae, found = cached_prior(ref, device())
except VQVAEError as exc:
    st.error(str(exc))
    st.stop()
if found.notice:
    st.info(found.notice)
c = prior.config


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
# Each choice is kept in the URL (remember), and its widget reads it from session state.
remember("sample-n", c.n_classes * max(1, 20 // c.n_classes) if c.n_classes else 20,
         lambda v: isinstance(v, int) and 1 <= v <= 100)
remember("sample-temperature", 1.0, lambda v: isinstance(v, (int, float)) and 0.1 <= v <= 2.0)
remember("sample-seed", 0, lambda v: isinstance(v, int) and 0 <= v < 2**31)
remember("sample-top-k", 0, lambda v: isinstance(v, int) and 0 <= v <= c.codebook_size)
remember("sample-top-p", 1.0, lambda v: isinstance(v, (int, float)) and 0.05 <= v <= 1.0)
n = cols[0].number_input("Images", 1, 100, key="sample-n", step=1)
temperature = cols[1].slider("Temperature", 0.1, 2.0, step=0.05, key="sample-temperature",
                             help="below 1: safer; above 1: wilder")
seed = cols[2].number_input("Seed", 0, 2**31 - 1, key="sample-seed", step=1)
filters = st.columns(4)
top_k = filters[0].number_input("Top-k", 0, c.codebook_size, key="sample-top-k", step=1,
                                help="draw each code from the k likeliest only; 0 keeps every code, 1 always takes the likeliest")
top_p = filters[1].slider("Top-p", 0.05, 1.0, step=0.05, key="sample-top-p",
                          help="nucleus sampling: from the fewest likeliest codes whose probability reaches p; 1 keeps every code")
top_k, top_p = (int(top_k) or None), (float(top_p) if top_p < 1 else None)
STREAM, STEP = "stream", "step"
modes = (STREAM, STEP)
remember("sample-mode", STREAM, modes)
mode = filters[2].radio("Mode", modes, horizontal=True, key="sample-mode",
                        format_func={STREAM: "Whole grids", STEP: "Step through"}.get,
                        help="whole grids: the codes stream in; step through: one image, one position at a time, "
                             "with the prior's choices shown and yours taken"
                             + ("" if c.levels == 1 else "; the top grid first, then the bottom one"))
label = None
dataset = dataset_of_prior(found.path)
names = class_names(dataset)
if not names or len(names) != c.n_classes:  # labels of unknown meaning: their numbers
    names = [str(i) for i in range(c.n_classes)]
kind = class_kind(dataset)
EACH = "each in turn"
if c.n_classes:
    # One image at a time (step through) is always of one class, which the user picks.
    options = list(range(c.n_classes)) if mode == STEP else [EACH, *range(c.n_classes)]
    remember("sample-class", options[0], options)
    choice = cols[3].selectbox(kind.capitalize(), options, key="sample-class",
                               format_func=lambda v: f"each {kind} in turn" if v == EACH else names[v],
                               help=f"draw every image of one {kind}, or the {kind}s in turn")
    label = None if choice == EACH else int(choice)

LAST = "sample-last-grid"  # the newest grid: (its settings, images, caption, GIF); shown while they are current
settings = (ref, int(n), float(temperature), int(seed), label, top_k, top_p)


def what(n: int, label: int | None) -> str:
    if label is not None:
        which = f" of the {kind} {names[label]}"
    elif c.n_classes:
        which = f", the {kind}s in turn (named under each)" if n > 1 else f" of the {kind} {names[0]}"
    else:
        which = ""
    filtered = "".join(f", {name} {value:g}" for name, value in (("top-k", top_k), ("top-p", top_p)) if value)
    return f"{n} sample{'s' if n != 1 else ''}{which}, temperature {temperature:g}{filtered}, seed {seed}"


FRAME = (0.0, 0.45, 0.70)  # a blue frame sets a black (MNIST) or white (Pokémon) tile off the page
TILE_PIXELS = 128  # each sample of a grid enlarged by whole pixels to about this (MNIST 4x, 64-px Pokémon 2x)


def level_stage(level: str | None) -> str:
    """For two levels, which grid is filling and how the picture is decoded meanwhile."""
    if level == "top":
        return (f": the top grid ({vqvae.config.top_grid_size} x {vqvae.config.top_grid_size}, the layout), "
                "decoded alone (the bottom level set to its mean code)")
    if level == "bottom":
        return f": the bottom grid ({vqvae.config.grid_size} x {vqvae.config.grid_size}, the detail), given the top"
    return ""


def show(images: torch.Tensor, caption: str | None = None, where=st) -> None:
    """Each sample enlarged by whole pixels to a readable size (one or two larger), in rows
    that wrap with the page's width, its class named under it."""
    tiles = enlarge(images.float().clamp(0, 1).cpu(), SHOWN_PIXELS if len(images) <= 2 else TILE_PIXELS)
    labels = sample_labels(c.n_classes, len(images), label, "cpu")
    box = where.container()
    box.image([t.permute(1, 2, 0).numpy() for t in tiles], width=tiles.shape[-1],
              caption=[names[i] for i in labels.tolist()] if labels is not None else None)
    if caption:
        box.caption(caption)


STEPPER, TOP_SHOWN = "sample-stepper", 8  # the step-mode sampler; the likeliest next codes shown


def stepper_for_settings() -> StepSampler:
    """The step-mode sampler of these settings: kept across reruns, new when a setting changes."""
    held = st.session_state.get(STEPPER)
    step_settings = (ref, float(temperature), top_k, top_p, int(seed), label)
    if held is None or held[0] != step_settings:
        held = step_settings, StepSampler(prior, vqvae, Sampling(float(temperature), top_k, top_p), int(seed), label)
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
    grid = stepper.grid
    which = f"of the {kind} {names[label]}, " if label is not None else ""
    left, middle, right = st.columns([2, 3, 3])
    stage = "" if finished else level_stage(grid.level)
    left.image(picture(stepper.decoded(blank=True).cpu(), 1, pixels=SHOWN_PIXELS), width="content",
               caption=f"{stepper.done} of {stepper.total} codes drawn{stage}, {which}"
                       f"{stepper.picks} of them picked by you; grey: not drawn yet")
    of_grid = f" of the {grid.level} grid" if grid.level else ""
    middle.plotly_chart(entropy_map(grid.entropy, None if finished else (row, column), grid.codebook_size,
                                    title=f"how sure the prior was ({grid.level} grid)" if grid.level else None),
                        width="stretch")
    if finished:
        right.success("Every position is drawn: start again, or change a setting for a new sample.")
        return
    codes, probs = stepper.likeliest(TOP_SHOWN)
    shown = [(code, p) for code, p in zip(codes.tolist(), probs.tolist()) if p > 0]
    right.markdown(f"**Next: row {row}, column {column}{of_grid}.** The prior's likeliest codes there, each shown "
                   f"in place among the codes drawn so far (the middle cell; 3 x 3 cells around it):")
    tiles = stepper.in_place(torch.tensor([code for code, _ in shown]))
    tiles = frame(enlarge(tiles, SHOWN_PIXELS // 3), torch.ones(len(tiles), dtype=torch.bool), colour=FRAME)
    right.image([t.permute(1, 2, 0).numpy() for t in tiles], width=tiles.shape[-1] + 4,
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
        st.session_state.pop(LAST, None)
        bar, canvas = st.progress(0.0, text="sampling"), st.empty()
        film = SamplingFilm(vqvae, grid_columns(int(n), c.n_classes, label))  # the GIF to take away
        for progress in steps:
            if progress.grid_done % progress.codes.shape[-1] == 0:  # redraw once per row of codes
                film.add(progress)
                bar.progress(progress.done / progress.total, text=f"{progress.done} of {progress.total} codes"
                                                                  + level_stage(progress.level))
                with torch.no_grad():
                    show(decode_progress(vqvae, progress), "decoded so far" + level_stage(progress.level), canvas)
        with torch.no_grad():
            images = decode_progress(vqvae, progress).cpu()
        canvas.empty()
        st.session_state[LAST] = (settings, images, what(int(n), label), film.gif())
    held = st.session_state.get(LAST)
    if held is not None and held[0] != settings:  # made with other settings (another prior, say): gone
        st.session_state.pop(LAST)
        held = None
    if held is not None:
        _, images, caption, gif = held
        show(images, caption)
        png, animation = st.columns(2)
        png.download_button("Download the grid (PNG)", png_bytes(images, grid_columns(len(images), c.n_classes, label)),
                            file_name="samples.png", mime="image/png", on_click="ignore")
        animation.download_button("Download the sampling (GIF)", gif, file_name="sampling.gif", mime="image/gif",
                                  on_click="ignore", help="the grid filling in, a row of codes a frame")

sample_quality(found.path)
