"""Codebook: what each code paints, how often each is used, and where the code vectors sit
among the encoder outputs, all on the held-out images of the model's data set."""

import streamlit as st
import torch

from pages.cached import cached_vqvae, held_out, held_out_usage
from pages.common import device, remember, sidebar
from vqvae.dashboard.levels import LEVELS, NEUTRAL, level_title
from vqvae.dashboard.pictures import picture
from vqvae.dashboard.codebook_view import atlas, enlarge, frame, project, projection_figure, usage_order
from vqvae.dashboard.plots import usage_bars
from vqvae.dashboard.quantizer_view import POSITION, show_straight_through
from vqvae.models.decision import straight_through
from vqvae.models.metrics import perplexity

TILE_PIXELS = 36  # each atlas tile is enlarged to about this many pixels, crisp
MAX_TILES = 1024  # tiles drawn at once: a larger codebook shows the first MAX_TILES in the chosen order
SHOWN_TILES = 256  # tiles drawn at first (16 rows), so the usage and the projection are not 64 rows further down


@st.cache_resource(show_spinner="Decoding every code...")
def cached_atlas(ref: str, device: str, grid: int, level: str):
    """Every code (of a two-level model's `level`) decoded alone, in id order [K, C, S, S] (enlarged only when shown)."""
    model, _ = cached_vqvae(ref, device)
    return atlas(model, grid, level=level)


@st.cache_resource(show_spinner="Projecting the encoder outputs of the held-out images...")
def cached_projection(ref: str, device: str, level: str):
    """(the Projection, its figure): the figure too, as building 5,000 points takes a while."""
    model, _ = cached_vqvae(ref, device)
    projection = project(model, held_out(ref, device).images, level=level)
    return projection, projection_figure(projection)


active = sidebar()
c = active.model.config
st.title("The codebook")
level = "bottom"
if c.levels == 2:
    remember("codebook-level", "bottom", LEVELS)
    level = st.radio("Level", LEVELS, horizontal=True, key="codebook-level", format_func=lambda v: level_title(c, v),
                     help="a two-level model has a codebook for each level: the top one's codes paint the layout, "
                          "the bottom one's the detail")
size = c.top_codes if level == "top" else c.codebook_size
side = c.downsample * (2 if level == "top" else 1)  # pixels a side of one code of this level
usage = held_out_usage(active.ref, device(), level)
dead = usage == 0
st.markdown(
    f"The quantiser owns **K = {size} code vectors** of {c.code_dim} numbers each. Every position of "
    "the encoder's output grid is replaced by its nearest code vector, so a code is the centre of the cluster of "
    "encoder outputs it wins, and the decoder learns what to paint for each one. A code that wins no output "
    "is **dead**: it costs a slot in the codebook and never paints anything."
    + (f" Each tile below is decoded from the {level} level's code, {NEUTRAL}." if c.levels == 2 else "")
)

st.subheader("What each code paints")
left, middle, right = st.columns(3)
order = left.radio("Order", ["by code id", "most used first"], horizontal=True, key="codebook_order")
grid = middle.select_slider("Each tile is a code map of", [1, 2, 3], key="codebook_grid",
                            format_func=lambda g: f"{g} x {g} copies",
                            help="one code alone; or the same code repeated, to see the texture it paints among copies of itself")
tile_counts = sorted({n for n in (64, 128, 256, 512) if n < size} | {min(size, MAX_TILES)})
if st.session_state.get("codebook_tiles") not in tile_counts:  # kept from a model with another K
    st.session_state["codebook_tiles"] = min(size, SHOWN_TILES)
shown = right.select_slider("Codes shown", tile_counts, key="codebook_tiles",
                            help=f"at most {MAX_TILES:,}, in the chosen order") if len(tile_counts) > 1 else tile_counts[0]
by_use = order == "most used first"
codes = (usage_order(usage) if by_use else torch.arange(size))[:shown]
tiles = enlarge(cached_atlas(active.ref, device(), grid, level)[codes], TILE_PIXELS)
shown_dead = dead[codes]
if shown_dead.any():
    tiles = frame(tiles, shown_dead)
st.image(picture(tiles, nrow=16), output_format="PNG", caption=(
    ("Every code" if len(codes) == size else
     f"The {'most used' if by_use else 'first'} {len(codes):,} of the {size:,} codes")
    + f" decoded alone ({grid * side} x {grid * side} pixels), 16 per row, "
    + ("the most used code top left, the least used last" if by_use else "code 0 top left, in id order")
    + (f"; the {int(shown_dead.sum())} dead codes among them are framed in red" if shown_dead.any() else "")
    + (". On these digits the most used codes paint background; the rarer ones paint pieces of strokes."
       if held_out(active.ref, device()).dataset == "mnist" else
       ". The most used codes mostly paint background; the rarer ones paint edges, colours and details.")))
if c.arch == "conv":
    st.caption("This convolutional decoder blends each code with its neighbours, so a code alone paints only a "
               "faint patch: its meaning comes with its context. Copies side by side show the texture it stands for.")
else:
    st.caption("This patch decoder paints every code's patch on its own, so a tile is exactly what that code "
               "contributes to any image it appears in.")

st.subheader("How often each code is used")
a, b, d = st.columns(3)
a.metric("codes used", f"{int((~dead).sum())} of {size}", help="codes chosen at least once on the held-out images")
b.metric("dead codes", int(dead.sum()), help="codes no held-out position chose")
d.metric("perplexity", f"{float(perplexity(usage)):.1f}",
         help="exp(entropy) of the usage: the number of equally used codes that would be as unpredictable")
st.plotly_chart(usage_bars({active.ref: usage}), width="stretch")

st.subheader("Codes among the encoder outputs" + (f" (the {level} level)" if c.levels == 2 else ""))
projection, figure = cached_projection(active.ref, device(), level)
st.plotly_chart(figure, width="stretch")
share = 100 * projection.explained
st.caption(
    f"The encoder's output vectors ({len(projection.points):,} of {int(projection.usage.sum()):,} held-out positions, "
    f"coloured by their nearest code) and the code vectors, seen from the two directions along which the outputs "
    f"vary most: {share[0]:.0f}% and {share[1]:.0f}% of their variance; the remaining {100 - share.sum():.0f}% "
    f"of the {c.code_dim}-dimensional spread is flattened away. Each code sits inside the dots it wins; the busiest codes sit where the "
    "dots are densest. Hover over a code for its real distance to the nearest output."
)

st.subheader("What the straight-through estimator passes back")
if c.levels == 2:
    st.caption("Shown for one-level models: pick one in the sidebar.")
else:
    held = held_out(active.ref, device()).images
    image, row, column = st.session_state.get(POSITION, (min(7, len(held) - 1), c.grid_size // 2, c.grid_size // 2))
    image, row, column = min(image, len(held) - 1), min(row, c.grid_size - 1), min(column, c.grid_size - 1)
    st.markdown(f"At the position picked on Overview (held-out image {image}, row {row}, column {column}). Choosing "
                "the nearest code has no gradient, so training copies the decoder's gradient at z_q back to z_e:")
    kind = c.quantizer if c.quantizer in ("fsq", "bsq") else c.straight_through
    show_straight_through(straight_through(active.model, held[image : image + 1].float() / 255, row, column), kind)

