"""Reconstruct: an uploaded picture (or a held-out image) as the model sees it, the grid of
codes it becomes, and the picture the decoder paints back from those codes alone."""

from pathlib import Path

import streamlit as st
import torch

from pages.cached import cached_classifier, cached_prior, cached_weighing, held_out, held_out_usage
from pages.common import SHOWN_PIXELS, device, prior_of, remember, sidebar
from pages.drawing import picture_input
from vqvae.dashboard.codebook_view import enlarge, enlarge_by, frame, usage_order
from vqvae.dashboard import codec_view
from vqvae.dashboard.levels import LEVELS, NEUTRAL, decoded_with, each_level_alone, level_title
from vqvae.dashboard.linked_view import linked_view_html
from vqvae.dashboard.pictures import picture, png_bytes
from vqvae.dashboard.plots import code_map, selected_points
from vqvae.data.image_file import FORMAT_NAMES, MAX_PIXELS, UPLOAD_TYPES
from vqvae.data.uploads import FULL_SIZE_CAP, background_of, read_image, read_image_full
from vqvae.errors import VQVAEError
from vqvae.models.editing import CodeEdits, candidates_in_place, mark_cells, outline_cells
from vqvae.models.stepping import StepSampler
from vqvae.training.evaluate import reconstruct
from vqvae.training.sample_quality import suggested_class

INVERT = {"auto": None, "yes": True, "no": False}
# Full size by default: the models are fully convolutional, so an upload keeps its shape and
# detail instead of being squeezed into the training square; the model's size is one click away
# for comparing with what the model trained on. Held-out examples are always at the model's size.
FULL_SIZE, MODEL_SIZE = "full", "model"
EDITS, CELL = "reconstruct-edits", "reconstruct-cell"  # (the picture's identity, its CodeEdits); the selected cell
SELECTED = (0.0, 0.45, 0.70)  # the selected cell's outline: blue, apart from the red of edited cells


active = sidebar()
model = active.model
c = model.config
two_levels = c.levels == 2
st.title("Reconstruct a picture")
st.markdown(
    f"Upload a picture: it is read at its own shape (scaled down to at most {FULL_SIZE_CAP} pixels a side) "
    f"or fitted to what the model trained on ({c.image_size} x {c.image_size}), "
    f"{'grayscale' if c.in_channels == 1 else 'colour'}, encoded to a grid of code indices out of "
    f"{c.codebook_size} (one per {c.downsample} x {c.downsample} pixels), and painted back by the decoder "
    f"from those codes alone."
)

examples = held_out(active.ref, device())
shown = examples.examples()
remember("size", FULL_SIZE, (FULL_SIZE, MODEL_SIZE))
remember("invert", "auto", INVERT)
remember("sample", shown[0], shown)  # an index kept from another model's data set falls back to the first

left, middle, right = st.columns([3, 2, 1])
file = picture_input(left, "Upload a picture", "upload", c.image_size, c.in_channels, type=list(UPLOAD_TYPES),
                     help=f"{FORMAT_NAMES}, up to {MAX_PIXELS / 1e6:.0f} megapixels; never cropped")
size_choice = middle.radio(
    "Size", [FULL_SIZE, MODEL_SIZE], horizontal=True, key="size",
    format_func={FULL_SIZE: f"Full size (up to {FULL_SIZE_CAP} px)",
                 MODEL_SIZE: f"Model's size ({c.image_size} x {c.image_size})"}.get,
    help=f"full size keeps the upload's shape, padded to a multiple of {c.downsample} (the model is fully "
         "convolutional); the model's size pads it to a square and scales it to what the model trained on. "
         "Held-out examples are always at the model's size",
)
invert_choice = right.radio(
    "Invert", list(INVERT), horizontal=True, key="invert",
    help="auto inverts a picture with a light background for a grayscale model, as MNIST digits are light on black",
)

upload = None
if file is not None:
    # A transparent upload goes on the background of the model's own pictures (white for the
    # Pokémon artworks); a grayscale model keeps its own rule (dark drawings on white, then inverted).
    background = background_of(examples.images) if c.in_channels == 3 else None
    try:
        if size_choice == FULL_SIZE:
            upload = read_image_full(file[1], c.in_channels, c.downsample, FULL_SIZE_CAP,
                                     INVERT[invert_choice], background=background)
        else:
            upload = read_image(file[1], c.in_channels, c.image_size, INVERT[invert_choice],
                                background=background)
    except VQVAEError as exc:
        st.error(f"{exc} (showing a held-out image below instead)")

sample = st.selectbox(
    f"Held-out {examples.title} image", shown, key="sample", disabled=upload is not None,
    format_func=examples.name_of,
    help="one of the images the model never trained on; shown while no readable picture is uploaded",
)

if upload is not None:
    images, name, picture_size = upload.images, Path(file[0]).stem, upload.picture_size
    st.caption(f"{file[0]}: {upload.format}, {upload.width} x {upload.height} pixels, mode {upload.mode}")
    if upload.notes:
        st.info("\n".join(f"- {note}" for note in upload.notes))
else:
    images, name, picture_size = examples.images[sample : sample + 1], f"held-out-{sample}", None
    if INVERT[invert_choice]:  # "yes" shows what the model makes of a dark digit on white
        images = 255 - images

result = reconstruct(model, images, picture_size)
height, width = images.shape[-2:]
# One whole-pixel enlargement for every picture of the row (the longest side about
# SHOWN_PIXELS), drawn at exactly that width: the original and the reconstruction stay at one
# scale, crisp, and can be compared pixel for pixel.
factor = max(1, SHOWN_PIXELS // max(height, width))
shown_width = factor * width
# The user's edits to this picture's codes (each level's, for a two-level model): kept across
# reruns, dropped for another picture.
source = (active.ref, name, tuple(images.shape), int(images.sum()))
if st.session_state.get(EDITS, (None,))[0] != source:
    grids = {"bottom": CodeEdits(result.codes[0].cpu(), c.codebook_size)}
    if two_levels:
        grids["top"] = CodeEdits(result.top_codes[0].cpu(), c.top_codes)
    st.session_state[EDITS] = source, grids
    st.session_state.pop(CELL, None)
all_edits = st.session_state[EDITS][1]
level = "bottom"
if two_levels:
    remember("level", "bottom", LEVELS)
    level = st.radio("Code grid to show and edit", LEVELS, horizontal=True, key="level",
                     on_change=lambda: st.session_state.pop(CELL, None),
                     format_func=lambda level: level_title(c, level),
                     help="a two-level model's codes are two grids: the top one carries the layout, the bottom "
                          "one the detail; edit either and the picture is decoded again from both")
edits = all_edits[level]
cell_side = c.downsample * (2 if level == "top" else 1)  # pixels a side of one cell of the grid shown
h, w = edits.codes.shape[-2:]
# A click on the code map selects a cell (read here, before the pictures are drawn): its patch is
# outlined in the picture and in the reconstruction, so the three views point at the same place.
clicked = [(int(p["y"]), int(p["x"])) for p in selected_points(st.session_state.get("code-map")) if "x" in p and "y" in p]
if clicked and clicked[0][0] < h and clicked[0][1] < w:
    st.session_state[CELL] = clicked[0]
cell = st.session_state.get(CELL)


def with_selected_cell(pictures: torch.Tensor) -> torch.Tensor:
    if cell is None or not (cell[0] < h and cell[1] < w):
        return pictures
    only = torch.zeros(h, w, dtype=torch.bool)
    only[cell] = True
    cell_pixels = cell_side * factor
    return outline_cells(pictures, only, cell_pixels, max(1, cell_pixels // 8), colour=SELECTED)


original, reconstruction, codes = st.columns(3)
original.image(picture(with_selected_cell(enlarge_by(images.float() / 255, factor))), width=shown_width,
               caption="as the model sees it" + (f" (blue: row {cell[0]}, column {cell[1]})" if cell else ""))
changed = edits.changed
of_edits = any(bool(e.changed.any()) for e in all_edits.values())
# What the page shows, measures and offers to download: the edited grid's picture once a code is changed.
top_codes = all_edits["top"].codes[None] if two_levels else None
shown = reconstruct(model, images, picture_size, all_edits["bottom"].codes[None], top_codes) if of_edits else result
decoded = enlarge_by(shown.reconstruction, factor)
if of_edits:  # the edited grid decoded at once; the changed cells marked unless the user hides the marks
    if reconstruction.toggle("Mark the changed cells", True, key="reconstruct-marks",
                             help="outlined where a cell is large enough on screen, else tinted red"):
        decoded = mark_cells(decoded, changed, cell_side * factor)
    count = sum(int(e.changed.sum()) for e in all_edits.values())
    reconstruction.image(picture(with_selected_cell(decoded)), width=shown_width,
                         caption=f"decoded from your edited codes ({count} changed)")
else:
    reconstruction.image(picture(with_selected_cell(decoded)), caption="reconstruction from the codes",
                         width=shown_width)
# Sizes read width x height throughout the page, as the notes give pixel sizes.
usage = held_out_usage(active.ref, device(), level)
codes.plotly_chart(code_map(edits.codes, usage, title=f"{level + ': ' if two_levels else ''}{w} x {h} codes: click one "
                                                      "to edit it", marked=changed, selected=cell),
                   width="stretch", on_select="rerun", selection_mode="points", key="code-map")
if two_levels:
    st.markdown(f"**What each level carries**: each picture is decoded from one level's codes (as edited), {NEUTRAL}.")
    for column, (caption, alone) in zip(st.columns(3), each_level_alone(model, shown.top_codes, shown.codes)):
        column.image(picture(enlarge_by(alone, factor)), width=shown_width, caption=caption)
if result.picture_size:
    counted = f"the {result.picture_size[1]} x {result.picture_size[0]} picture, not its padding"
else:
    counted = f"all {width} x {height} pixels"
grid_column, mse_column, psnr_column, bits_column, ratio_column = st.columns(5)
bottom_h, bottom_w = result.codes.shape[-2:]
grid_text = " + ".join(f"{g.shape[-1]} x {g.shape[-2]}" for g in (result.codes, result.top_codes) if g is not None)
grid_column.metric("Code grid", grid_text, f"for {width} x {height} pixels", delta_color="off", delta_arrow="off",
                   help=f"codes across x down, one per {c.downsample} x {c.downsample} pixels"
                        + (" (the top grid's: one per 2 x 2 of those)" if two_levels else ""))
# After an edit the numbers are the edited picture's, with their change from the model's own reconstruction.
mse_column.metric("MSE", f"{shown.mse:.4f}", f"{shown.mse - result.mse:+.4f} from the edits" if of_edits else None,
                  delta_color="inverse", help=f"mean squared error per pixel, with pixels in [0, 1], over {counted}")
psnr_column.metric("PSNR", f"{shown.psnr:.2f} dB", f"{shown.psnr - result.psnr:+.2f} dB from the edits" if of_edits else None,
                   help=f"10 log10(1 / MSE): higher is closer; over {counted}")
bits_column.metric("Code bits", f"{result.code_bits:,.0f}", f"vs {result.pixel_bits:,} pixel bits",
                   delta_color="off", delta_arrow="off",
                   help=f"{bottom_w} x {bottom_h} codes of log2({c.codebook_size}) bits each"
                        + (f", plus the top grid's of log2({c.top_codes}) bits each" if two_levels else ""))
ratio_column.metric("Compression", f"{result.ratio:.0f}x", help=f"bits of the 8-bit pixels ({counted}) / bits of the codes")
st.download_button("Download the edited picture (PNG)" if of_edits else "Download the reconstruction (PNG)",
                   png_bytes(shown.picture, nrow=1), file_name=f"{name}-{'edited' if of_edits else 'reconstruction'}.png",
                   mime="image/png", on_click="ignore")
with st.expander("Linked view: point at a cell or a pixel, and the same place lights up in all three"
                 + (" (the bottom grid's cells)" if two_levels else ""), expanded=True):
    st.iframe(linked_view_html(images[0].float() / 255, shown.reconstruction[0], all_edits["bottom"].codes,
                               shown_width))
# Coded only when opened (seconds for a large upload), then kept for this picture.
codec = st.expander("As a file: the codes entropy-coded with the prior, beside JPEG and WebP on the same picture",
                    key="reconstruct-codec", on_change="rerun")
if codec.open:
    if (codec_prior := prior_of(active)) is None:
        codec.caption("Coding the codes into a file needs a prior trained on this model's codes: the Sample page "
                      "trains one.")
    else:
        codec_view.show(*cached_weighing(codec_prior, source, images, picture_size), examples.class_title, codec)


def edit_section() -> None:
    """Change a code by hand, or let the prior redraw everything after a cell."""
    st.subheader("Edit the codes")
    if CELL not in st.session_state:
        st.caption("Click a cell of the code map above to select it: you can then put another code there and see "
                   "the picture decoded again at once, or let the prior redraw everything after it.")
        return
    row, column = st.session_state[CELL]
    if not (row < h and column < w):
        st.session_state.pop(CELL)
        return
    left, middle, right = st.columns([2, 2, 3])
    current = int(edits.codes[row, column])
    left.markdown(f"**Row {row}, column {column}**: code {current} (was {int(edits.original[row, column])})")
    share = usage / max(int(usage.sum()), 1)
    replacement = left.selectbox("Replacement code (most used first; type a number)", usage_order(usage).tolist(),
                                 key=f"edit-code-{level}", format_func=lambda k: f"code {k} ({share[k]:.1%} of held-out positions)")
    if two_levels:  # put there, the whole picture decoded from both grids
        grids = {name: e.codes for name, e in all_edits.items()}
        tile = decoded_with(model, grids, level, row, column, int(replacement))
        caption = f"code {replacement} put there: the whole picture, decoded from both levels"
    else:
        # In place among its neighbours (the middle cell of 3 x 3), framed: a background code alone is
        # a plain tile that shows nothing, in context it shows what it would change.
        tile = candidates_in_place(model, edits.codes, row, column, torch.tensor([int(replacement)]))
        caption = f"code {replacement} put there, among its neighbours (the middle of 3 x 3 cells)"
    tile = frame(enlarge(tile, SHOWN_PIXELS // 2), torch.ones(1, dtype=torch.bool), colour=SELECTED)
    middle.image(picture(tile), width="content", caption=caption)
    right.button("Put it there", type="primary", on_click=edits.set, args=(row, column, int(replacement)))
    undo, reset = right.columns(2)
    undo.button("Undo", disabled=not edits.history, on_click=edits.undo)
    reset.button("Reset", disabled=not edits.history, on_click=edits.reset)
    completion(right, row, column)


def completion(right, row: int, column: int) -> None:
    """Let the prior redraw every code after the selected cell, streamed as it draws."""
    prior_ref = prior_of(active)
    if prior_ref is None:
        right.caption("Completing with a prior needs one trained on this model's codes: the Sample page trains one.")
        return
    prior, _, _ = cached_prior(prior_ref, device())
    label = completion_class(prior.config.n_classes, right)
    which = f" as {examples.kind} {examples.class_title(label)}" if label is not None else ""
    where = f"row {row}, column {column}" + (f" of the {level} grid" if two_levels else "")
    redrawn = " (and the whole bottom grid after it)" if level == "top" else ""
    if right.button(f"Complete{which} with the prior from {where}",
                    help=f"keep the codes before this cell (row by row) and let the prior redraw the rest{redrawn}, "
                         "as it samples: each code given the ones before it (the prior is convolutional, so any "
                         "grid size works)"):
        try:
            stepper = StepSampler.completing(prior, model, {name: e.codes for name, e in all_edits.items()}, level,
                                             row, column, seed=int(torch.randint(0, 2**31 - 1, ()).item()), label=label)
        except VQVAEError as exc:
            right.error(str(exc))
            return
        canvas = right.empty()
        while stepper.done < stepper.total:
            stepper.to_row_end()  # streamed a row at a time, as the Sample page does
            stage = f" ({stepper.level} grid)" if two_levels else ""
            canvas.image(picture(stepper.decoded(blank=True).cpu(), pixels=SHOWN_PIXELS // 2), width="content",
                         caption=f"{stepper.done} of {stepper.total} codes{stage}{which}; grey: not drawn yet")
        if level == "top":
            all_edits["top"].replace(stepper.top[0].cpu())
        all_edits["bottom"].replace(stepper.codes[0].cpu())
        st.rerun()


def completion_class(n_classes: int, where) -> int | None:
    """The class a class-conditional prior completes with, picked by the user: a held-out
    image's own class to start with; for an upload, the bundled classifier's reading of it
    when the data set has one (MNIST), else the first class, and the page says which."""
    if not n_classes:
        return None
    if upload is None and examples.labels is not None:
        start, why = examples.labels[sample], f"this held-out image's own {examples.kind}"
    else:
        classifier = cached_classifier(examples.dataset, device())
        start = suggested_class(classifier, images) if classifier is not None else 0
        why = ("what the bundled classifier reads in the upload" if classifier is not None
               else f"no classifier reads {examples.title}: pick the {examples.kind}")
    key = f"reconstruct-class-{hash(source)}"  # a new picture starts from its own suggestion
    choice = where.selectbox(f"Complete as {examples.kind}", range(n_classes), index=min(start, n_classes - 1),
                             key=key, format_func=examples.class_title, help=f"the prior draws codes of this {examples.kind}")
    where.caption(f"Suggested: {examples.class_title(start)} ({why}).")
    return int(choice)


edit_section()
