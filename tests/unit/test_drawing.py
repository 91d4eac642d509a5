"""A canvas drawing as a picture: the strokes on white at the model's size, read as an
upload is (a dark drawing inverted for a model of light digits)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vqvae.data.drawing import canvas_png, has_strokes
from vqvae.data.uploads import read_image
from vqvae.errors import VQVAEError


def stroke(colour=(0, 0, 0, 255)) -> np.ndarray:
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=colour, width=20)
    return np.asarray(canvas)


def test_an_empty_canvas_has_no_strokes():
    assert not has_strokes(np.zeros((280, 280, 4), dtype=np.uint8)) and not has_strokes(None)
    assert has_strokes(stroke())


def test_a_stroke_becomes_a_digit_as_mnist_draws_them():
    png = canvas_png(stroke(), 28)
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.size == (28, 28) and picture.mode == "RGB"
    upload = read_image(png, 1, 28)  # dark on white: inverted for light digits on black
    digit = upload.images[0, 0].numpy()
    assert upload.inverted and digit[:, :5].max() < 30 and digit[10:18, 13:15].min() > 200
    assert 1 <= (digit > 128).sum(1).max() <= 4  # a stroke 2-3 pixels wide, as MNIST's


def test_a_coloured_stroke_keeps_its_colour():
    upload = read_image(canvas_png(stroke((214, 39, 40, 255)), 64), 3, 64)
    red, green, blue = (upload.images[0, :, 32, 32].tolist())
    assert red > 180 and green < 90 and blue < 90 and not upload.inverted


def test_a_canvas_of_another_shape_is_refused():
    with pytest.raises(VQVAEError, match="RGBA"):
        canvas_png(np.zeros((280, 280, 3), dtype=np.uint8), 28)
