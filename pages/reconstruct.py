"""Reconstruct: an uploaded picture (or a held-out digit) as the model sees it, the grid of
codes it becomes, and the picture the decoder paints back from those codes alone."""

from pathlib import Path

import streamlit as st

from pages.common import (
    SHOWN_PIXELS,
    device,
    held_out_images,
    held_out_labels,
    held_out_usage,
    picture,
    png_bytes,
    sidebar,
)
from vqvae.dashboard.plots import code_map
from vqvae.data.datasets import fit_images
from vqvae.data.uploads import FORMAT_NAMES, MAX_PIXELS, UPLOAD_TYPES, read_image
from vqvae.errors import VQVAEError
from vqvae.training.evaluate import reconstruct

INVERT = {"auto": None, "yes": True, "no": False}


active = sidebar()
model = active.model
c = model.config
st.title("Reconstruct a picture")
st.markdown(
    f"Upload a picture: it is fitted to what the model takes ({c.image_size} x {c.image_size}, "
    f"{'grayscale' if c.in_channels == 1 else 'colour'}), encoded to a grid of {c.grid_size} x {c.grid_size} "
    f"code indices out of {c.codebook_size}, and painted back by the decoder from those codes alone."
)

left, right = st.columns([3, 1])
file = left.file_uploader(
    "Upload a picture", type=list(UPLOAD_TYPES), key="upload",
    help=f"{FORMAT_NAMES}, up to {MAX_PIXELS / 1e6:.0f} megapixels; it is padded to a square, not cropped",
)
invert_choice = right.radio(
    "Invert", list(INVERT), horizontal=True, key="invert",
    help="auto inverts a picture with a light background for a grayscale model, as MNIST digits are light on black",
)

upload = None
if file is not None:
    try:
        upload = read_image(file.getvalue(), c.in_channels, c.image_size, INVERT[invert_choice])
    except VQVAEError as exc:
        st.error(f"{exc} (showing a held-out digit below instead)")

images_held_out, labels = held_out_images(), held_out_labels()
samples = {labels.index(digit): digit for digit in range(10)}  # held-out index -> label, the first of each digit
sample = st.selectbox(
    "Held-out digit", list(samples), key="sample", disabled=upload is not None,
    format_func=lambda i: f"a {samples[i]} (held-out image {i})",
    help="one of the digits the models never trained on; shown while no readable picture is uploaded",
)

if upload is not None:
    images, name = upload.images, Path(file.name).stem
    st.caption(f"{file.name}: {upload.format}, {upload.width} x {upload.height} pixels, mode {upload.mode}")
    if upload.notes:
        st.info("\n".join(f"- {note}" for note in upload.notes))
else:
    images, name = fit_images(images_held_out[sample : sample + 1], c.in_channels, c.image_size), f"held-out-{sample}"
    if INVERT[invert_choice]:  # "yes" shows what the model makes of a dark digit on white
        images = 255 - images

result = reconstruct(model, images)
original, reconstruction, codes = st.columns(3)
original.image(picture(images.float() / 255, pixels=SHOWN_PIXELS), caption="as the model sees it", width="stretch")
reconstruction.image(picture(result.reconstruction, pixels=SHOWN_PIXELS), caption="reconstruction from the codes", width="stretch")
codes.plotly_chart(code_map(result.codes[0], held_out_usage(active.ref, device())), width="stretch")

h, w = result.codes.shape[-2:]
mse_column, psnr_column, bits_column, ratio_column = st.columns(4)
mse_column.metric("MSE", f"{result.mse:.4f}", help="mean squared error per pixel, with pixels in [0, 1]")
psnr_column.metric("PSNR", f"{result.psnr:.2f} dB", help="10 log10(1 / MSE): higher is closer")
bits_column.metric("Code bits", f"{result.code_bits:.0f}", f"vs {result.pixel_bits:,} pixel bits",
                   delta_color="off", delta_arrow="off", help=f"{h} x {w} codes of log2({c.codebook_size}) bits each")
ratio_column.metric("Compression", f"{result.ratio:.0f}x", help="bits of the 8-bit pixels / bits of the codes")
st.download_button("Download the reconstruction (PNG)", png_bytes(result.reconstruction, nrow=1),
                   file_name=f"{name}-reconstruction.png", mime="image/png", on_click="ignore")
