"""Overview: what a VQ-VAE does, shown with the live model on one held-out image."""

import streamlit as st

from pages.cached import held_out, held_out_usage
from pages.common import SHOWN_PIXELS, device, sidebar
from vqvae.dashboard.levels import each_level_alone, levels_explained
from vqvae.dashboard.pictures import picture
from vqvae.dashboard.plots import code_map
from vqvae.training.evaluate import reconstruct

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
index = st.slider("Held-out image", 0, len(examples.images) - 1, min(7, len(examples.images) - 1),
                  help=f"{len(examples.images):,} {examples.title} images the model never trained on")
c = model.config
images = examples.images[index : index + 1]
result = reconstruct(model, images)

left, middle, right = st.columns(3)
left.image(picture(images.float() / 255, pixels=SHOWN_PIXELS), caption=examples.name_of(index), width="stretch")
middle.plotly_chart(code_map(result.codes[0], held_out_usage(active.ref, device()),
                             title=f"bottom: {c.grid_size} x {c.grid_size} codes" if c.levels == 2 else ""),
                    width="stretch")
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
h, w = result.codes.shape[-2:]
distinct = len(result.codes[0].unique())
positions = f"{w} x {h} = {h * w}" + (f" + {c.top_grid_size}² top" if c.levels == 2 else "")
a.metric("codes", positions, f"{distinct} distinct of K = {c.codebook_size}", delta_color="off",
         delta_arrow="off", help=f"positions in the (bottom) grid, each holding one of the K = {c.codebook_size} codes; "
                                 f"this image uses {distinct} different ones (the grid repeats codes)")
b.metric("bits", f"{result.code_bits:.0f}", f"{result.ratio:.0f}x fewer than the {result.pixel_bits:,} bits of 8-bit pixels",
         delta_color="off", delta_arrow="off")
d.metric("PSNR", f"{result.psnr:.2f} dB", help="10 log10(1 / MSE) with pixels in [0, 1]")
