"""VQ-VAE Lab dashboard: `streamlit run app.py`.

For now a landing page over the library; the pages (reconstruct, train, compare,
sample, codebook) arrive in pages/ as the library grows under them.
"""

import streamlit as st
import torchvision.utils as vutils

from vqvae.data import bundled_mnist
from vqvae.device import pick_device

st.set_page_config(page_title="VQ-VAE Lab", page_icon="🧩", layout="wide")


@st.cache_resource
def held_out_digits():
    return bundled_mnist().val[:32]


st.title("VQ-VAE Lab")
st.markdown(
    "A VQ-VAE squeezes an image into a small grid of **discrete codes**, each one an index into a "
    "learnt codebook, and decodes the grid back into pixels. Here you can train one, watch its "
    "codebook come alive, and compare a plain codebook with an EMA one."
)
st.sidebar.metric("Device", str(pick_device()).upper())

digits = held_out_digits()
grid = vutils.make_grid(digits.float() / 255, nrow=16, padding=2, pad_value=1.0)
st.image(grid.permute(1, 2, 0).numpy(), caption="Held-out digits from the bundled MNIST split (1,000 images never trained on)",
         clamp=True, width="stretch")

st.subheader("Train from the terminal")
st.code(
    "python -m vqvae train --preset mnist --quantizer ema --codebook-size 128 --epochs 20 --out runs/mnist-ema\n"
    "python -m vqvae eval --model runs/mnist-ema",
    language="bash",
)
