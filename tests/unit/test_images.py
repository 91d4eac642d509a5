"""Uploaded files become model inputs (vqvae/data/image_file.py reads them,
vqvae/data/uploads.py fits them to a model): every kind of bad file is refused with a
one-line VQVAEError, every Pillow mode is converted sensibly and said so, and an image that
already fits comes through untouched."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFile

from conftest import tiny_model_config
from pictures import BAD_FILES, black_1bit_png, encoded, noise
from vqvae.data.image_file import MAX_PIXELS
from vqvae.data.uploads import background_of, read_image, read_image_full
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.training.evaluate import reconstruct


def digit(mnist, index: int = 0) -> np.ndarray:
    """A held-out MNIST digit [28, 28] uint8: light strokes on black."""
    return mnist.val[index, 0].numpy()


def pixels(upload) -> np.ndarray:
    """The model input of an Upload as [H, W] (gray) or [H, W, 3] uint8."""
    return upload.images[0].permute(1, 2, 0).squeeze(-1).numpy()


# ---- bad files: refused with one line that says what to do ----------------------------------------




@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_with_one_line(kind):
    make, expected = BAD_FILES[kind]
    with pytest.raises(VQVAEError) as refused:
        read_image(make(), 1, 28)
    message = str(refused.value)
    assert expected in message
    assert "\n" not in message and ": " in message  # one line: what is wrong, then what to do


def test_a_huge_picture_is_refused_from_its_header_without_decoding(monkeypatch):
    decodes = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decodes.append(im.size) or real_load(im))
    with pytest.raises(VQVAEError, match="megapixels"):
        read_image(black_1bit_png(10_000, 10_000), 1, 28)
    assert decodes == []
    read_image(black_1bit_png(100, 100), 1, 28)  # the same kind of file, small, is decoded and read
    assert set(decodes) == {(100, 100)}


def test_the_limit_is_the_pixel_count_not_the_file_size():
    side = int(MAX_PIXELS**0.5)
    with pytest.raises(VQVAEError, match="megapixels"):
        read_image(black_1bit_png(side + 1, side + 1, with_pixels=False), 1, 28)
    assert read_image(black_1bit_png(2_000, 20), 1, 28).images.shape == (1, 1, 28, 28)


def test_truncated_files_are_refused_even_when_pillow_is_told_to_accept_them(monkeypatch):
    # Any imported library may set this process-wide flag; a half-grey picture must still be refused.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for fmt in ("PNG", "JPEG"):
        data = encoded(noise(64, 64), fmt)
        with pytest.raises(VQVAEError, match="truncated or corrupt"):
            read_image(data[: len(data) // 2], 1, 28)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for whoever set it


def test_damaged_files_only_ever_raise_vqvae_errors():
    """Random byte changes and cuts in files of every accepted format: whatever Pillow makes of
    them, the caller sees an Upload or a VQVAEError, never Pillow's own exception."""
    rng = random.Random(0)
    frames = [Image.new("P", (16, 16), i) for i in range(3)]
    originals = [encoded(noise(24, 24), fmt) for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF")]
    originals.append(encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    for original in originals:
        for _ in range(40):
            data = bytearray(original)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randrange(len(data))]
            try:
                upload = read_image(bytes(data), 1, 28)
            except VQVAEError as refused:
                assert "\n" not in str(refused)
            else:
                assert upload.images.shape == (1, 1, 28, 28) and upload.images.dtype == torch.uint8


# ---- pictures that fit already, and MNIST's polarity ----------------------------------------------


def test_a_held_out_digit_saved_as_png_comes_back_unchanged(mnist):
    for index in range(5):
        upload = read_image(encoded(Image.fromarray(digit(mnist, index)), "PNG"), 1, 28)
        assert torch.equal(upload.images, mnist.val[index : index + 1])
        assert upload.notes == [] and not upload.inverted
        assert (upload.width, upload.height, upload.mode, upload.format) == (28, 28, "L", "PNG")


def test_a_dark_digit_on_white_is_inverted_to_mnist_polarity(mnist):
    paper = encoded(Image.fromarray(255 - digit(mnist)), "PNG")
    upload = read_image(paper, 1, 28)
    assert upload.inverted
    assert np.array_equal(pixels(upload), digit(mnist))
    assert any(note.startswith("inverted") for note in upload.notes)


def test_invert_can_be_forced_either_way(mnist):
    paper = encoded(Image.fromarray(255 - digit(mnist)), "PNG")
    kept = read_image(paper, 1, 28, invert=False)
    assert not kept.inverted and np.array_equal(pixels(kept), 255 - digit(mnist))
    forced = read_image(encoded(Image.fromarray(digit(mnist)), "PNG"), 1, 28, invert=True)
    assert forced.inverted and np.array_equal(pixels(forced), 255 - digit(mnist))
    assert "inverted, as asked" in forced.notes


def test_a_colour_model_is_never_inverted_by_itself():
    upload = read_image(encoded(Image.new("RGB", (32, 32), (250, 240, 230)), "PNG"), 3, 32)
    assert not upload.inverted and pixels(upload)[0, 0].tolist() == [250, 240, 230]


# ---- modes --------------------------------------------------------------------------------------


def stroke_on(background, ink, mode: str) -> Image.Image:
    """A 40 x 40 picture with a thick bar of ink across the middle."""
    im = Image.new(mode, (40, 40), background)
    ImageDraw.Draw(im).rectangle((4, 16, 35, 23), fill=ink)
    return im


def test_a_light_drawing_on_transparency_is_put_on_black():
    upload = read_image(encoded(stroke_on((0, 0, 0, 0), (255, 255, 255, 255), "RGBA"), "PNG"), 1, 28)
    assert "transparent pixels put on black" in upload.notes and not upload.inverted
    image = pixels(upload)
    assert image[0, 0] == 0 and image[14, 14] > 200


def test_dark_ink_on_transparency_becomes_a_light_digit_on_black():
    # What a sketch app exports: on black the ink would vanish.
    upload = read_image(encoded(stroke_on((0, 0, 0, 0), (0, 0, 0, 255), "RGBA"), "PNG"), 1, 28)
    assert "transparent pixels put on white, as the drawing is dark" in upload.notes and upload.inverted
    image = pixels(upload)
    assert image[0, 0] == 0 and image[14, 14] > 200


def test_gray_with_alpha_is_flattened_like_rgba():
    upload = read_image(encoded(stroke_on((0, 0), (200, 255), "LA"), "PNG"), 1, 28)
    image = pixels(upload)
    assert image[0, 0] == 0 and image[14, 14] > 150 and "transparent pixels put on black" in upload.notes


def test_a_palette_image_with_a_transparent_colour_is_flattened():
    im = stroke_on(0, 1, "P")
    im.putpalette([255, 0, 0, 255, 255, 255] + [0] * 762)  # index 0 is red, but transparent
    upload = read_image(encoded(im, "PNG", transparency=0), 1, 28)
    assert upload.mode == "P" and "transparent pixels put on black" in upload.notes
    image = pixels(upload)
    assert image[0, 0] == 0 and image[14, 14] > 200  # the red of index 0 never shows


# ---- transparency on the model's own background -------------------------------------------------


YELLOW = (255, 220, 0, 255)  # a light drawing: without a background it goes on black


def test_transparency_goes_on_the_models_background_when_given():
    sticker = encoded(stroke_on((0, 0, 0, 0), YELLOW, "RGBA"), "PNG")
    upload = read_image(sticker, 3, 40, background=(255, 255, 255))
    assert "transparent pixels put on white, the model's background" in upload.notes
    image = pixels(upload)
    assert image[0, 0].tolist() == [255, 255, 255] and image[39, 39].tolist() == [255, 255, 255]
    assert image[20, 20].tolist() == [255, 220, 0]  # the drawing itself untouched
    unchanged = read_image(sticker, 3, 40)  # no background: black, as before
    assert "transparent pixels put on black" in unchanged.notes
    assert pixels(unchanged)[0, 0].tolist() == [0, 0, 0] and pixels(unchanged)[20, 20].tolist() == [255, 220, 0]


def test_read_image_full_puts_transparency_on_the_models_background():
    im = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((10, 5, 19, 14), fill=YELLOW)
    upload = read_image_full(encoded(im, "PNG"), 3, 8, background=(255, 255, 255))
    assert upload.images.shape == (1, 3, 24, 32) and upload.picture_size == (20, 30)
    assert "transparent pixels put on white, the model's background" in upload.notes
    image = pixels(upload)
    drawn = np.zeros((24, 32), dtype=bool)
    drawn[5:15, 10:20] = True
    assert (image[~drawn] == 255).all()  # where it was transparent, and the padding (its border's colour)
    assert (image[drawn] == [255, 220, 0]).all()
    assert (pixels(read_image_full(encoded(im, "PNG"), 3, 8))[0, 0] == 0).all()  # no background: black


def test_a_background_of_another_shape_than_the_picture():
    # One value (a grayscale model's) for an RGBA picture, three for an LA one.
    gray = read_image(encoded(stroke_on((0, 0, 0, 0), YELLOW, "RGBA"), "PNG"), 1, 40, background=(90,))
    assert "transparent pixels put on gray level 90, the model's background" in gray.notes
    assert pixels(gray)[0, 0] == 90 and not gray.inverted
    la = encoded(stroke_on((0, 0), (200, 255), "LA"), "PNG")
    coloured = read_image(la, 3, 40, background=(200, 100, 50))
    assert "transparent pixels put on RGB (200, 100, 50), the model's background" in coloured.notes
    assert "grayscale copied into the three channels of this colour model" in coloured.notes
    assert pixels(coloured)[0, 0].tolist() == [200, 100, 50] and pixels(coloured)[20, 20].tolist() == [200] * 3
    white = read_image(la, 3, 40, background=(255, 255, 255))
    assert pixels(white)[0, 0].tolist() == [255] * 3 and pixels(white)[20, 20].tolist() == [200] * 3
    with pytest.raises(VQVAEError, match="1 or 3 values"):
        read_image(la, 3, 40, background=(255, 255))


def test_dark_ink_still_shows_on_a_black_model_background():
    # MNIST's background is black: a sketch's dark ink is put on white and inverted, as without one.
    ink = encoded(stroke_on((0, 0, 0, 0), (0, 0, 0, 255), "RGBA"), "PNG")
    upload = read_image(ink, 1, 28, background=(0,))
    assert "transparent pixels put on white, as the drawing is dark" in upload.notes and upload.inverted
    assert torch.equal(upload.images, read_image(ink, 1, 28).images)


def test_background_of_is_the_median_border_colour():
    white = torch.full((4, 3, 16, 12), 255, dtype=torch.uint8)
    white[:, :, 4:12, 3:9] = torch.tensor([200, 30, 30], dtype=torch.uint8).view(3, 1, 1)  # a red creature inside
    white[0, :, 0, :5] = 0  # a few dark border pixels do not move the median
    assert background_of(white) == (255, 255, 255)
    black = torch.zeros(5, 1, 28, 28, dtype=torch.uint8)
    black[:, :, 8:20, 8:20] = 255
    assert background_of(black) == (0,)
    with pytest.raises(VQVAEError):
        background_of(torch.zeros(3, 28, 28, dtype=torch.uint8))


def test_16_bit_gray_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    upload = read_image(encoded(Image.fromarray(ramp), "PNG"), 1, 32, invert=False)
    assert upload.mode == "I;16" and "16-bit image scaled to 8 bits" in upload.notes
    image = pixels(upload).astype(int)
    assert np.abs(image - ramp / 257).max() <= 1  # Pillow's convert("L") would make most of it 255


def test_float_gray_is_stretched_to_8_bits():
    values = np.linspace(-1, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    upload = read_image(encoded(Image.fromarray(values, "F"), "TIFF"), 1, 16, invert=False)
    image = pixels(upload)
    assert image.min() == 0 and image.max() == 255 and any("stretched" in note for note in upload.notes)


def test_cmyk_jpeg_is_converted_to_rgb_then_gray():
    cyan = encoded(Image.new("CMYK", (32, 32), (255, 0, 0, 0)), "JPEG", quality=95)
    upload = read_image(cyan, 1, 32, invert=False)
    assert upload.mode == "CMYK"
    assert upload.notes[:2] == ["CMYK colours converted to RGB", "colour converted to grayscale for this model"]
    assert abs(int(pixels(upload)[16, 16]) - 179) <= 4  # the luma of (0, 255, 255)
    in_colour = read_image(cyan, 3, 32)
    assert np.abs(pixels(in_colour)[16, 16].astype(int) - [0, 255, 255]).max() <= 4


def test_a_1_bit_image_reads_as_black_and_white():
    upload = read_image(encoded(stroke_on(0, 1, "1"), "PNG"), 1, 40)
    image = pixels(upload)
    assert upload.mode == "1" and set(np.unique(image).tolist()) == {0, 255}
    assert image[0, 0] == 0 and image[20, 20] == 255


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("L", (32, 32), level) for level in (40, 200, 120)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    upload = read_image(data, 1, 32)
    assert np.all(pixels(upload) == 40)
    assert "first frame of an animated GIF (3 frames)" in upload.notes


def test_an_animated_webp_gives_its_first_frame():
    frames = [Image.new("RGB", (32, 32), (level,) * 3) for level in (40, 200)]
    data = encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    upload = read_image(data, 1, 32)
    assert np.all(pixels(upload) == 40) and "first frame of an animated WEBP (2 frames)" in upload.notes


def test_colour_becomes_luma_for_a_gray_model_and_gray_is_replicated_for_a_colour_one():
    red = read_image(encoded(Image.new("RGB", (28, 28), (255, 0, 0)), "PNG"), 1, 28)
    assert np.all(pixels(red) == 76) and "colour converted to grayscale for this model" in red.notes
    gray_as_rgb = read_image(encoded(Image.new("RGB", (28, 28), (90, 90, 90)), "PNG"), 1, 28)
    assert gray_as_rgb.notes == []  # nothing is lost, so nothing to say
    gray = read_image(encoded(Image.new("L", (32, 32), 90), "PNG"), 3, 32)
    assert gray.images.shape == (1, 3, 32, 32) and bool((gray.images == 90).all())
    assert "grayscale copied into the three channels of this colour model" in gray.notes


def test_exif_orientation_is_applied():
    wide = Image.new("L", (40, 20), 0)
    wide.putpixel((0, 0), 255)  # stored top-left; orientation 6 shows the picture turned 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    upload = read_image(encoded(wide, "PNG", exif=exif), 1, 40)
    assert "turned upright as its EXIF orientation tag says" in upload.notes
    assert (upload.width, upload.height) == (40, 20)  # the file as stored
    assert "padded to a square with its background colour (20 x 40 -> 40 x 40)" in upload.notes
    image = pixels(upload)
    assert image[0, 29] == 255 and image[0, 10] == 0  # now at the top right of the upright picture


def test_the_whole_picture_is_kept_padded_with_its_background():
    wide = Image.new("L", (112, 56), 30)
    ImageDraw.Draw(wide).rectangle((0, 20, 7, 35), fill=255)  # marks at both far ends
    ImageDraw.Draw(wide).rectangle((104, 20, 111, 35), fill=255)
    upload = read_image(encoded(wide, "PNG"), 1, 28)
    image = pixels(upload).astype(int)
    assert image[14, 0] > 200 and image[14, 27] > 200  # neither end cropped
    assert abs(image[0, 14] - 30) <= 1 and abs(image[27, 14] - 30) <= 1  # padding in the background's colour
    assert upload.notes == ["padded to a square with its background colour (112 x 56 -> 112 x 112)",
                            "scaled from 112 x 112 to 28 x 28"]


def test_a_large_photo_is_reduced_and_keeps_its_content():
    photo = Image.new("RGB", (4000, 3000), (10, 10, 10))
    ImageDraw.Draw(photo).rectangle((200, 500, 1799, 2499), fill=(240, 240, 240))  # a light block, left of centre
    upload = read_image(encoded(photo, "JPEG", quality=90), 1, 28)
    assert (upload.width, upload.height, upload.format) == (4000, 3000, "JPEG")
    image = pixels(upload).astype(int)  # the block spans columns 1.4-12.6 and rows 7-21 of the padded square
    assert image[14, 7] > 200 and image[14, 20] < 40 and abs(image[1, 14] - 10) <= 5


# ---- the reconstruction's numbers ---------------------------------------------------------------


def test_reconstruct_returns_codes_reconstruction_and_bits(mnist):
    torch.manual_seed(0)
    model = VQVAE(tiny_model_config()).eval()  # K = 16, 7 x 7 codes
    result = reconstruct(model, mnist.val[:1])
    assert result.codes.shape == (1, 7, 7) and result.codes.dtype == torch.int64
    assert result.reconstruction.shape == (1, 1, 28, 28)
    assert 0 <= float(result.reconstruction.min()) and float(result.reconstruction.max()) <= 1
    assert result.code_bits == 49 * 4 and result.pixel_bits == 28 * 28 * 8 and result.ratio == 32
    expected = float((result.reconstruction - mnist.val[:1].float() / 255).pow(2).mean())
    assert result.mse == pytest.approx(expected, rel=1e-5)
    assert result.psnr == pytest.approx(-10 * np.log10(expected), rel=1e-5)
