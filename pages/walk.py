"""Walk: from one picture to another through code space, beside the plain pixel blend."""

import streamlit as st

from pages.cached import held_out
from pages.common import SHOWN_PIXELS, device, remember, sidebar
from pages.drawing import picture_input
from vqvae.dashboard.pictures import picture
from vqvae.dashboard.plots import walk_changes
from vqvae.data.image_file import FORMAT_NAMES, UPLOAD_TYPES
from vqvae.data.uploads import read_image
from vqvae.errors import VQVAEError
from vqvae.models.walk import walk

MAX_SHOWN_STEPS = 16  # a strip wider than this no longer fits a page

active = sidebar()
model = active.model
c = model.config
st.title("Walk in code space")
st.markdown(
    "Pick two pictures. Their encoder outputs are mixed in even steps, each mixture is snapped to its nearest "
    "codes and decoded: every picture on the way is one the decoder paints from codes. Below it, the plain "
    "pixel blend of the same two pictures, for contrast."
)

examples = held_out(active.ref, device())
shown = examples.examples()
ends = []
for column, side, default in zip(st.columns(2), ("From", "To"), (0, 1)):
    key = f"walk-{side.lower()}"
    remember(key, shown[min(default, len(shown) - 1)], shown)  # an index of another data set: the default
    picker = column.container()  # above the uploader, drawn once the upload is known
    file = picture_input(column, f"... or upload one ({side.lower()})", f"{key}-upload", c.image_size, c.in_channels,
                         type=list(UPLOAD_TYPES), help=f"{FORMAT_NAMES}; padded to a square and fitted to the model's "
                                     f"{c.image_size} x {c.image_size}, however small")
    upload = None
    if file is not None:
        try:  # any size: a tiny picture is scaled up, as Reconstruct takes it too
            upload = read_image(file[1], c.in_channels, c.image_size, min_side=1)
        except VQVAEError as exc:
            column.error(f"{exc} (using the held-out image instead)")
    index = picker.selectbox(f"{side}: a held-out {examples.title} image", shown, key=key, format_func=examples.name_of,
                             disabled=upload is not None,
                             help="used while no readable picture is uploaded" if upload is None else
                                  "the upload is used: remove it to pick a held-out image")
    if upload is not None:
        column.caption(f"{file[0]}: {upload.format}, {upload.width} x {upload.height} pixels, mode {upload.mode}")
        if upload.notes:
            column.info("\n".join(f"- {note}" for note in upload.notes))
    ends.append((upload.images[0] if upload is not None else examples.images[index]).float() / 255)

remember("walk-steps", 10, range(3, MAX_SHOWN_STEPS + 1))
steps = st.slider("Steps (both pictures included)", 3, MAX_SHOWN_STEPS, key="walk-steps")
result = walk(model, ends[0], ends[1], steps)
pixels = max(SHOWN_PIXELS // 4, c.image_size)
st.image(picture(result.images, nrow=steps, pixels=pixels), width="stretch",
         caption="through code space: each step's mixed encoder outputs, snapped to the nearest codes, decoded")
st.image(picture(result.blend, nrow=steps, pixels=pixels), width="stretch",
         caption="the plain pixel blend at the same weights")
grid = result.codes.shape[-1] * result.codes.shape[-2]
st.plotly_chart(walk_changes(result.changed, grid), width="stretch")
differing = int((result.codes[0] != result.codes[-1]).sum())
st.caption(f"The two pictures differ in {differing} of their {grid} codes; the walk changes {sum(result.changed)} "
           f"codes on the way (a code can change more than once).")
