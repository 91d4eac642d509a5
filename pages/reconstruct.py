"""Reconstruct: an uploaded picture (or a held-out image) as the model sees it, the grid of
codes it becomes, and the picture the decoder paints back from those codes alone."""

from pathlib import Path

import streamlit as st
import torch

from pages.common import (
    SHOWN_PIXELS,
    cached_prior,
    device,
    held_out,
    held_out_usage,
    picture,
    png_bytes,
    prior_of,
    sidebar,
)
from vqvae.dashboard.codebook_view import atlas, enlarge, usage_order
from vqvae.dashboard.plots import code_map
from vqvae.data.uploads import FORMAT_NAMES, FULL_SIZE_CAP, MAX_PIXELS, UPLOAD_TYPES, read_image, read_image_full
from vqvae.errors import VQVAEError
from vqvae.models.editing import CodeEdits, outline_cells
from vqvae.models.stepping import StepSampler
from vqvae.training.evaluate import reconstruct

INVERT = {"auto": None, "yes": True, "no": False}
# Full size by default: the models are fully convolutional, so an upload keeps its shape and
# detail instead of being squeezed into the training square; the model's size is one click away
# for comparing with what the model trained on. Held-out examples are always at the model's size.
FULL_SIZE, MODEL_SIZE = "full", "model"
EDITS, CELL = "reconstruct-edits", "reconstruct-cell"  # (the picture's identity, its CodeEdits); the selected cell


active = sidebar()
model = active.model
c = model.config
st.title("Reconstruct a picture")
st.markdown(
    f"Upload a picture: it is read at its own shape (scaled down to at most {FULL_SIZE_CAP} pixels a side) "
    f"or fitted to what the model trained on ({c.image_size} x {c.image_size}), "
    f"{'grayscale' if c.in_channels == 1 else 'colour'}, encoded to a grid of code indices out of "
    f"{c.codebook_size} (one per {c.downsample} x {c.downsample} pixels), and painted back by the decoder "
    f"from those codes alone."
)

left, middle, right = st.columns([3, 2, 1])
file = left.file_uploader(
    "Upload a picture", type=list(UPLOAD_TYPES), key="upload",
    help=f"{FORMAT_NAMES}, up to {MAX_PIXELS / 1e6:.0f} megapixels; never cropped",
)
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
    try:
        if size_choice == FULL_SIZE:
            upload = read_image_full(file.getvalue(), c.in_channels, c.downsample, FULL_SIZE_CAP, INVERT[invert_choice])
        else:
            upload = read_image(file.getvalue(), c.in_channels, c.image_size, INVERT[invert_choice])
    except VQVAEError as exc:
        st.error(f"{exc} (showing a held-out image below instead)")

examples = held_out(active.ref, device())
shown = examples.examples()
if st.session_state.get("sample") not in shown:  # kept from another model's data set
    st.session_state["sample"] = shown[0]
sample = st.selectbox(
    f"Held-out {examples.title} image", shown, key="sample", disabled=upload is not None,
    format_func=examples.name_of,
    help="one of the images the model never trained on; shown while no readable picture is uploaded",
)

if upload is not None:
    images, name, picture_size = upload.images, Path(file.name).stem, upload.picture_size
    st.caption(f"{file.name}: {upload.format}, {upload.width} x {upload.height} pixels, mode {upload.mode}")
    if upload.notes:
        st.info("\n".join(f"- {note}" for note in upload.notes))
else:
    images, name, picture_size = examples.images[sample : sample + 1], f"held-out-{sample}", None
    if INVERT[invert_choice]:  # "yes" shows what the model makes of a dark digit on white
        images = 255 - images

result = reconstruct(model, images, picture_size)
height, width = images.shape[-2:]
# Enlarged by whole pixels until the longest side is about SHOWN_PIXELS (picture() scales by
# the width alone), and a tall picture kept at that size rather than stretched to the column.
shown_pixels = SHOWN_PIXELS * width // max(height, width)
shown_width = "stretch" if width >= height else "content"
# The user's edits to this picture's codes: kept across reruns, dropped for another picture.
source = (active.ref, name, tuple(images.shape), int(images.sum()))
if st.session_state.get(EDITS, (None,))[0] != source:
    st.session_state[EDITS] = source, CodeEdits(result.codes[0].cpu(), c.codebook_size)
    st.session_state.pop(CELL, None)
edits = st.session_state[EDITS][1]
original, reconstruction, codes = st.columns(3)
original.image(picture(images.float() / 255, pixels=shown_pixels), caption="as the model sees it", width=shown_width)
changed = edits.changed
of_edits = bool(changed.any())
# What the page shows, measures and offers to download: the edited grid's picture once a code is changed.
shown = reconstruct(model, images, picture_size, codes=edits.codes[None]) if of_edits else result
if of_edits:  # the edited grid decoded at once, the changed cells outlined
    edited = enlarge(shown.reconstruction, shown_pixels)
    cell_pixels = c.downsample * edited.shape[-1] // width
    reconstruction.image(picture(outline_cells(edited, changed, cell_pixels, width=max(1, cell_pixels // 12))),
                         width=shown_width,
                         caption=f"decoded from your edited codes ({int(changed.sum())} changed, outlined)")
else:
    reconstruction.image(picture(result.reconstruction, pixels=shown_pixels), caption="reconstruction from the codes",
                         width=shown_width)
h, w = result.codes.shape[-2:]
usage = held_out_usage(active.ref, device())
# Sizes read width x height throughout the page, as the notes give pixel sizes.
event = codes.plotly_chart(code_map(edits.codes, usage, title=f"{w} x {h} codes: click one to edit it", marked=changed),
                           width="stretch", on_select="rerun", selection_mode="points", key="code-map")
clicked = [(int(p["y"]), int(p["x"])) for p in (event.selection.points if event else []) if "x" in p and "y" in p]
if clicked:
    st.session_state[CELL] = clicked[0]
if result.picture_size:
    counted = f"the {result.picture_size[1]} x {result.picture_size[0]} picture, not its padding"
else:
    counted = f"all {width} x {height} pixels"
grid_column, mse_column, psnr_column, bits_column, ratio_column = st.columns(5)
grid_column.metric("Code grid", f"{w} x {h}", f"for {width} x {height} pixels", delta_color="off", delta_arrow="off",
                   help=f"codes across x down, one per {c.downsample} x {c.downsample} pixels")
# After an edit the numbers are the edited picture's, with their change from the model's own reconstruction.
mse_column.metric("MSE", f"{shown.mse:.4f}", f"{shown.mse - result.mse:+.4f} from the edits" if of_edits else None,
                  delta_color="inverse", help=f"mean squared error per pixel, with pixels in [0, 1], over {counted}")
psnr_column.metric("PSNR", f"{shown.psnr:.2f} dB", f"{shown.psnr - result.psnr:+.2f} dB from the edits" if of_edits else None,
                   help=f"10 log10(1 / MSE): higher is closer; over {counted}")
bits_column.metric("Code bits", f"{result.code_bits:,.0f}", f"vs {result.pixel_bits:,} pixel bits",
                   delta_color="off", delta_arrow="off", help=f"{w} x {h} codes of log2({c.codebook_size}) bits each")
ratio_column.metric("Compression", f"{result.ratio:.0f}x", help=f"bits of the 8-bit pixels ({counted}) / bits of the codes")
st.download_button("Download the edited picture (PNG)" if of_edits else "Download the reconstruction (PNG)",
                   png_bytes(shown.picture, nrow=1), file_name=f"{name}-{'edited' if of_edits else 'reconstruction'}.png",
                   mime="image/png", on_click="ignore")


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
                                 key="edit-code", format_func=lambda k: f"code {k} ({share[k]:.1%} of held-out positions)")
    tile = enlarge(atlas(model, 3, torch.tensor([replacement])), SHOWN_PIXELS // 3)
    middle.image(picture(tile), caption=f"code {replacement}, as the decoder paints it among copies of itself",
                 width="content")
    right.button("Put it there", type="primary", on_click=edits.set, args=(row, column, int(replacement)))
    undo, reset = right.columns(2)
    undo.button("Undo", disabled=not edits.history, on_click=edits.undo)
    reset.button("Reset", disabled=not edits.history, on_click=edits.reset)
    prior_ref = prior_of(active) if (h, w) == (c.grid_size, c.grid_size) else None
    if prior_ref is None:
        right.caption("Completing with a prior needs one trained on this model's codes (the Sample page trains one) "
                      "and a picture at the model's size.")
        return
    label = examples.labels[sample] if file is None and examples.labels is not None else 0
    if right.button(f"Complete with the prior from row {row}, column {column}",
                    help="keep the codes before this cell (row by row) and let the prior redraw the rest, "
                         "as it samples: each code given the ones before it"):
        prior, _, _ = cached_prior(prior_ref, device())
        try:
            stepper = StepSampler(prior, model, seed=int(torch.randint(0, 2**31 - 1, ()).item()),
                                  label=label if prior.config.n_classes else None, keep=edits.codes,
                                  kept=row * w + column)
        except VQVAEError as exc:
            right.error(str(exc))
            return
        canvas = right.empty()
        while stepper.done < stepper.total:
            stepper.to_row_end()  # streamed a row at a time, as the Sample page does
            canvas.image(picture(stepper.decoded().cpu(), pixels=SHOWN_PIXELS // 2), width="content",
                         caption=f"{stepper.done} of {stepper.total} codes")
        edits.replace(stepper.codes[0].cpu())
        st.rerun()


edit_section()
