"""Overview: what a VQ-VAE does, shown with the live model on one held-out image."""

import streamlit as st
import torch

from pages.cached import held_out, held_out_usage
from pages.common import SHOWN_PIXELS, device, remember, sidebar
from pages.drawing import drawing
from vqvae.dashboard.codebook_view import atlas, enlarge
from vqvae.dashboard.levels import each_level_alone, levels_explained
from vqvae.dashboard.pictures import picture
from vqvae.dashboard.plots import code_map, selected_points
from vqvae.dashboard.quantizer_view import POSITION, show_decision
from vqvae.data.uploads import read_image
from vqvae.models.decision import decide
from vqvae.training.evaluate import reconstruct

IMAGE = "overview-image"

active = sidebar()
model = active.model
st.title("What a VQ-VAE does")
st.markdown(
    "The **encoder** turns an image into a small grid of vectors; the **quantiser** replaces each "
    "vector by the nearest of K learnt code vectors, so the image becomes a grid of code *indices*; "
    "the **decoder** paints an image back from those codes alone. Everything below is the live model."
)
examples = held_out(active.ref, device())
if examples.notice:
    st.info(examples.notice)
c = model.config
remember(IMAGE, min(7, len(examples.images) - 1), lambda v: isinstance(v, int) and 0 <= v < len(examples.images))
drawn = None
if st.toggle("Draw your own", key="overview-draw", help="draw on a canvas: each stroke is encoded and decoded at once"):
    drawn = drawing(st.columns([1, 2])[0], "overview-canvas", c.image_size, c.in_channels)
index = st.slider("Held-out image", 0, len(examples.images) - 1, key=IMAGE, disabled=drawn is not None,
                  help=f"{len(examples.images):,} {examples.title} images the model never trained on")
images = examples.images[index : index + 1]
if drawn is not None:  # read as an upload is (a dark drawing inverted for light digits)
    images = read_image(drawn[1], c.in_channels, c.image_size).images
result = reconstruct(model, images)
h, w = result.codes.shape[-2:]
# A click on the code map picks the position whose decision is shown below (the centre at first).
clicked = [(int(p["y"]), int(p["x"])) for p in selected_points(st.session_state.get("overview-map")) if "x" in p]
cell = st.session_state.get(POSITION, (None, h // 2, w // 2))[1:]
if clicked and clicked[0][0] < h and clicked[0][1] < w:
    cell = clicked[0]
if not (cell[0] < h and cell[1] < w):
    cell = (h // 2, w // 2)
st.session_state[POSITION] = (index, *cell)

left, middle, right = st.columns(3)
left.image(picture(images.float() / 255, pixels=SHOWN_PIXELS), width="stretch",
           caption="your drawing, as the model sees it" if drawn else examples.name_of(index))
middle.plotly_chart(code_map(result.codes[0], held_out_usage(active.ref, device()), selected=cell,
                             title=(f"bottom: {c.grid_size} x {c.grid_size} codes; " if c.levels == 2 else "")
                             + "click a code to see it chosen"),
                    width="stretch", on_select="rerun", selection_mode="points", key="overview-map")
right.image(picture(result.reconstruction, pixels=SHOWN_PIXELS), caption="reconstruction from the codes", width="stretch")

if c.levels == 2:
    st.subheader("What each level carries")
    st.markdown(levels_explained(c))
    top_map, *alone_columns = st.columns(3)
    top_map.plotly_chart(code_map(result.top_codes[0], held_out_usage(active.ref, device(), "top"),
                                  title=f"top: {c.top_grid_size} x {c.top_grid_size} codes"), width="stretch")
    for column, (caption, alone) in zip(alone_columns, each_level_alone(model, result.top_codes, result.codes)):
        column.image(picture(alone, pixels=SHOWN_PIXELS), caption=caption, width="stretch")

a, b, d = st.columns(3)
distinct = len(result.codes[0].unique())
positions = f"{w} x {h} = {h * w}" + (f" + {c.top_grid_size}² top" if c.levels == 2 else "")
a.metric("codes", positions, f"{distinct} distinct of K = {c.codebook_size}", delta_color="off",
         delta_arrow="off", help=f"positions in the (bottom) grid, each holding one of the K = {c.codebook_size} codes; "
                                 f"this image uses {distinct} different ones (the grid repeats codes)")
b.metric("bits", f"{result.code_bits:.0f}", f"{result.ratio:.0f}x fewer than the {result.pixel_bits:,} bits of 8-bit pixels",
         delta_color="off", delta_arrow="off")
d.metric("PSNR", f"{result.psnr:.2f} dB", help="10 log10(1 / MSE) with pixels in [0, 1]")

st.subheader(f"The quantizer deciding: row {cell[0]}, column {cell[1]}" + (" of the bottom grid" if c.levels == 2 else ""))
decision = decide(model, images.float() / 255, *cell)
tile = enlarge(atlas(model, 3, torch.tensor([decision.chosen])), 120)[0]
show_decision(decision, tile)

