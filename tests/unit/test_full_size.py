"""Full-size reconstruction (vqvae/data/uploads.py `read_image_full`, the `picture_size` of
`reconstruct`): an upload keeps its own shape, scaled down only to the cap and padded with its
background to a multiple of the model's downsampling; the code grid follows; colour stays
colour; MSE and PSNR count the picture, not the padding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from pictures import BAD_FILES, encoded, noise

from vqvae import ModelConfig
from vqvae.data.uploads import FULL_SIZE_CAP, read_image_full
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.training.evaluate import reconstruct

# Tiny colour models, randomly initialised: shapes and bookkeeping do not depend on the weights.
CONV = ModelConfig(in_channels=3, image_size=16, hidden=8, res_hidden=4, codebook_size=16, code_dim=4)  # 4 pixels a code
PATCH = ModelConfig(arch="patch", patch=3, in_channels=3, image_size=12, hidden=8, codebook_size=16, code_dim=4)


def colour_model(config: ModelConfig) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(config).eval()


def gradients(width: int, height: int, seed: int = 0) -> Image.Image:
    """A colour picture whose three channels differ everywhere: two ramps, their sum, and some noise."""
    y, x = np.mgrid[0:height, 0:width]
    ramps = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                      (x + y) * 255 // max(width + height - 2, 1)], axis=-1)
    grain = np.random.default_rng(seed).integers(-20, 21, ramps.shape)
    return Image.fromarray(np.clip(ramps + grain, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    """A 4000 x 3000 colour JPEG, as a phone takes it."""
    return encoded(gradients(4000, 3000), "JPEG", quality=90)


def awkward_file(shape: str, photo_jpeg: bytes) -> bytes:
    if shape == "4000 x 3000 JPEG":
        return photo_jpeg
    width, height = (int(side) for side in shape.split(" x "))
    return encoded(noise(height, width), "PNG")


# shape (width x height) -> per model: (model input H, W), picture (height, width) or None when
# no padding was needed, code grid (h, w). The conv model takes multiples of 4 under a 256 cap;
# the patch model multiples of 3, so its longest side is capped at 255 (a multiple of 3 under 256).
AWKWARD = {
    "301 x 97": {"conv": ((84, 256), (82, 256), (21, 64)), "patch": ((84, 255), (82, 255), (28, 85))},
    "1 x 500": {"conv": ((256, 4), (256, 1), (64, 1)), "patch": ((255, 3), (255, 1), (85, 1))},
    "4000 x 3000 JPEG": {"conv": ((192, 256), None, (48, 64)), "patch": ((192, 255), (191, 255), (64, 85))},
    "30 x 10": {"conv": ((12, 32), (10, 30), (3, 8)), "patch": ((12, 30), (10, 30), (4, 10))},  # never scaled up
}


@pytest.mark.parametrize("arch", ["conv", "patch"])
@pytest.mark.parametrize("shape", list(AWKWARD))
def test_awkward_shapes_are_capped_padded_and_give_the_matching_code_grid(shape, arch, photo_jpeg):
    model = colour_model(CONV if arch == "conv" else PATCH)
    multiple = model.config.downsample
    (height, width), picture_size, grid = AWKWARD[shape][arch]
    upload = read_image_full(awkward_file(shape, photo_jpeg), 3, multiple)
    assert upload.images.shape == (1, 3, height, width) and upload.images.dtype == torch.uint8
    assert height % multiple == 0 and width % multiple == 0 and max(height, width) <= FULL_SIZE_CAP
    assert upload.picture_size == picture_size
    result = reconstruct(model, upload.images, upload.picture_size)
    assert result.codes.shape == (1, *grid)
    assert result.reconstruction.shape == (1, 3, height, width)
    shown_height, shown_width = picture_size or (height, width)
    assert result.picture.shape == (1, 3, shown_height, shown_width)
    assert result.code_bits == grid[0] * grid[1] * math.log2(16)
    assert result.pixel_bits == 3 * shown_height * shown_width * 8  # the picture's pixels, not the padding's


def test_the_notes_say_what_was_scaled_and_padded():
    upload = read_image_full(encoded(noise(97, 301), "PNG"), 3, 4)
    assert upload.notes == [
        "scaled from 301 x 97 to 256 x 82 (the longest side capped at 256 pixels)",
        "padded on the right and bottom with its background colour (256 x 82 -> 256 x 84), "
        "as the model takes sides in multiples of 4",
    ]
    fits = read_image_full(encoded(noise(64, 128), "PNG"), 3, 4)
    assert fits.notes == [] and fits.picture_size is None and fits.images.shape == (1, 3, 64, 128)


def test_the_padding_is_the_background_colour_and_the_picture_is_untouched():
    sheet = Image.new("RGB", (30, 21), (250, 240, 230))
    ImageDraw.Draw(sheet).rectangle((10, 5, 19, 15), fill=(200, 20, 40))
    upload = read_image_full(encoded(sheet, "PNG"), 3, 4)
    assert upload.images.shape == (1, 3, 24, 32) and upload.picture_size == (21, 30)
    image = upload.images[0].permute(1, 2, 0).numpy()
    assert np.array_equal(image[:21, :30], np.asarray(sheet))  # at the top left, unscaled
    assert (image[21:] == (250, 240, 230)).all() and (image[:, 30:] == (250, 240, 230)).all()


def test_a_colour_upload_gives_a_colour_reconstruction():
    model = colour_model(CONV)
    upload = read_image_full(encoded(gradients(120, 80), "PNG"), 3, model.config.downsample)
    assert not upload.inverted and upload.notes == []  # a colour model is never inverted by itself
    red, green, blue = upload.images[0].float()
    assert not torch.equal(red, green) and not torch.equal(green, blue)
    result = reconstruct(model, upload.images, upload.picture_size)
    red, green, blue = result.picture[0]
    assert (red - green).abs().max() > 0.01 and (green - blue).abs().max() > 0.01  # not a gray picture in three copies


def test_a_grayscale_upload_on_a_colour_model_is_replicated_with_a_note():
    model = colour_model(CONV)
    upload = read_image_full(encoded(noise(50, 70, channels=1), "PNG"), 3, model.config.downsample)
    assert "grayscale copied into the three channels of this colour model" in upload.notes
    assert upload.images.shape == (1, 3, 52, 72) and upload.picture_size == (50, 70)
    red, green, blue = upload.images[0]
    assert torch.equal(red, green) and torch.equal(green, blue)
    result = reconstruct(model, upload.images, upload.picture_size)
    assert result.picture.shape == (1, 3, 50, 70) and math.isfinite(result.psnr)


def test_psnr_counts_the_picture_not_the_padding():
    model = colour_model(CONV)
    upload = read_image_full(encoded(noise(97, 301), "PNG"), 3, model.config.downsample)
    result = reconstruct(model, upload.images, upload.picture_size)
    height, width = upload.picture_size
    target = upload.images.float() / 255
    by_hand = float((result.reconstruction - target)[..., :height, :width].pow(2).mean())
    assert result.mse == pytest.approx(by_hand, rel=1e-5)
    assert result.psnr == pytest.approx(-10 * math.log10(by_hand), rel=1e-5)
    everything = reconstruct(model, upload.images)  # the padding counted too: another number
    assert everything.mse != pytest.approx(result.mse, rel=1e-3)
    assert torch.equal(everything.codes, result.codes)  # the codes are the same either way


def test_edited_codes_are_measured_against_the_picture_with_its_padding_left_out():
    model = colour_model(CONV)
    upload = read_image_full(encoded(noise(97, 301), "PNG"), 3, model.config.downsample)
    own = reconstruct(model, upload.images, upload.picture_size)
    same = reconstruct(model, upload.images, upload.picture_size, codes=own.codes)
    assert same.mse == pytest.approx(own.mse, rel=1e-6) and torch.equal(same.codes, own.codes)
    edited_codes = own.codes.clone()
    edited_codes[0, 0, 0] = (int(edited_codes[0, 0, 0]) + 1) % model.config.codebook_size
    edited = reconstruct(model, upload.images, upload.picture_size, codes=edited_codes)
    height, width = upload.picture_size
    by_hand = float((edited.reconstruction - upload.images.float() / 255)[..., :height, :width].pow(2).mean())
    assert edited.mse == pytest.approx(by_hand, rel=1e-5)
    assert edited.mse != own.mse and not torch.equal(edited.reconstruction, own.reconstruction)  # an untrained model: a small change
    with pytest.raises(VQVAEError, match="do not fit these images"):
        reconstruct(model, upload.images, upload.picture_size, codes=own.codes[..., :-1])


def test_a_picture_size_outside_the_images_is_one_line():
    model = colour_model(CONV)
    with pytest.raises(VQVAEError, match="must lie inside the images"):
        reconstruct(model, torch.zeros(1, 3, 8, 8, dtype=torch.uint8), (12, 8))


def test_a_grayscale_model_takes_a_dark_digit_on_paper_inverted_at_full_size():
    paper = Image.new("L", (60, 90), 235)
    ImageDraw.Draw(paper).line((30, 10, 30, 80), fill=20, width=6)
    upload = read_image_full(encoded(paper, "PNG"), 1, 4)
    assert upload.inverted and upload.images.shape == (1, 1, 92, 60)
    assert int(upload.images[0, 0, 91, 0]) == 255 - 235  # the padding is inverted with the picture


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_with_one_line_and_tiny_ones_are_padded(kind):
    make, expected = BAD_FILES[kind]
    if "at least 8 x 8" in expected:  # too small to scale up, but full size pads instead
        upload = read_image_full(make(), 3, 4)
        height, width = upload.images.shape[-2:]
        assert height % 4 == 0 and width % 4 == 0 and upload.picture_size is not None
        return
    with pytest.raises(VQVAEError) as refused:
        read_image_full(make(), 3, 4)
    assert expected in str(refused.value) and "\n" not in str(refused.value)


def test_a_cap_below_the_downsampling_is_one_line():
    with pytest.raises(VQVAEError, match="use a cap of at least 8"):
        read_image_full(encoded(noise(20, 20), "PNG"), 3, 8, cap=4)
