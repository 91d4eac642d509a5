"""Draw a picture instead of uploading one (streamlit-drawable-canvas, a maintained
Streamlit component): each stroke reruns the page with the drawing as PNG bytes, so a page
does with a drawing all it does with an upload; a drawing can be sent to the Walk page."""

import streamlit as st

from pages.common import kept_upload
from vqvae.data.drawing import canvas_png, has_strokes

CANVAS_PIXELS = 280  # the canvas, a side; the drawing is scaled to the model's size from it
WALK_FROM = "walk-from-upload-kept"  # the Walk page's kept "from" picture (pages.common.kept_upload)


def drawing(where, key: str, image_size: int, channels: int) -> tuple[str, bytes] | None:
    """A canvas; (name, PNG bytes at the model's size) once something is drawn, else None.
    Grey models draw in black on white (read as a drawing is: inverted for light digits);
    colour models take a colour."""
    from streamlit_drawable_canvas import st_canvas  # registered by Streamlit's runtime: only on a page

    colour = "#000000"
    if channels == 3:
        colour = where.color_picker("Colour", "#d62728", key=f"{key}-colour")
    width = where.slider("Stroke", 4, 40, 20 if channels == 1 else 16, key=f"{key}-stroke",
                         help=f"pen width in canvas pixels (the drawing is scaled {CANVAS_PIXELS} -> {image_size})")
    with where:
        result = st_canvas(stroke_width=width, stroke_color=colour, background_color="#ffffff", height=CANVAS_PIXELS,
                           width=CANVAS_PIXELS, drawing_mode="freedraw", return_image_data=True, key=key)
    if not has_strokes(result.image_data):
        where.caption("Draw with the mouse; each stroke is encoded and decoded at once.")
        return None
    picture = ("drawing.png", canvas_png(result.image_data, image_size))
    if where.button("Send to Walk", key=f"{key}-walk", help="walk in code space from this drawing"):
        st.session_state[WALK_FROM] = picture
        st.switch_page("pages/walk.py")
    return picture


def picture_input(where, label: str, key: str, image_size: int, channels: int, **uploader) -> tuple[str, bytes] | None:
    """An upload (pages.common.kept_upload), or a drawing when the toggle is on."""
    if where.toggle("Draw instead", key=f"{key}-draw", help="draw a picture on a canvas instead of uploading one"):
        return drawing(where, f"{key}-canvas", image_size, channels)
    return kept_upload(where, label, key, **uploader)
