"""Fitting an uploaded picture to a model: its channels, its background, its size.

`read_image` turns the bytes of an uploaded file (read by vqvae.data.image_file, which
refuses what cannot honestly be used) into the uint8 tensor [1, C, S, S] a model takes, and
says in plain words every change it made on the way. `read_image_full` keeps the picture's
own shape instead (the conv and patch models are fully convolutional): scaled down only to a
cap, then padded to a multiple of the model's downsampling. Given the model's background
colour (`background_of` its held-out images), both put transparent pixels on it.
(`vqvae.training.evaluate.reconstruct` then runs a model on it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from vqvae.data.image_file import MIN_SIDE, decode, eight_bit, turned_upright
from vqvae.errors import VQVAEError

WORKING_SIDE = 256  # large pictures are first scaled to this (or 8x the model's size): cheap and exact enough
FULL_SIZE_CAP = 256  # read_image_full's longest side: a 256 x 192 photo encodes in well under a second on a CPU


@dataclass
class Upload:
    """An uploaded picture as the model sees it, and what the file was."""
    images: torch.Tensor  # uint8 [1, channels, size, size]
    width: int  # of the file as stored (before any EXIF rotation)
    height: int
    mode: str  # Pillow's mode of the file: "RGB", "P", "I;16", ...
    format: str  # Pillow's format name: "PNG", "JPEG", ...
    inverted: bool = False
    notes: list[str] = field(default_factory=list)  # one line per conversion made, in order
    # (height, width) of the picture itself, at the top left of images; the rows below and the
    # columns to its right are padding up to a multiple of the model's downsampling, which
    # the page crops away and PSNR leaves out. None: all of images is the picture.
    picture_size: tuple[int, int] | None = None


def read_image(data: bytes, channels: int, size: int, invert: bool | None = None,
               background: tuple[int, ...] | None = None, min_side: int = MIN_SIDE) -> Upload:
    """The bytes of an uploaded file -> an Upload whose images are uint8 [1, channels, size, size].

    The whole picture is kept: it is padded to a square with its background colour (the
    median of its border) and scaled to size x size. invert: None decides by itself (a
    grayscale model gets light strokes on a dark background, as MNIST has them), True or
    False forces it. background: the model's background colour, one uint8 value a channel
    of the model (see background_of): transparent pixels are put on it; None puts them on
    black, or on white when the drawing is dark. min_side: a picture with a shorter side is
    refused (1 takes any picture, scaled up however small). Raises VQVAEError for a file it
    cannot use.
    """
    notes: list[str] = []
    # every step after _prepared works on at most working_side pixels a side
    im, upload, upright = _prepared(data, channels, max(WORKING_SIDE, 8 * size), min_side, notes, background)
    background = _border_median(im)
    invert, invert_note = _inversion(invert, channels, background)
    if im.width != im.height:
        im = _padded_square(im, background)
        notes.append(f"padded to a square with its background colour ({upright[0]} x {upright[1]} -> "
                     f"{max(upright)} x {max(upright)})")
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.LANCZOS)
        notes.append(f"scaled from {max(upright)} x {max(upright)} to {size} x {size}")
    return _finished(upload, im, channels, invert, invert_note, notes)


def read_image_full(data: bytes, channels: int, multiple: int, cap: int = FULL_SIZE_CAP,
                    invert: bool | None = None, background: tuple[int, ...] | None = None) -> Upload:
    """The bytes of an uploaded file -> an Upload whose images are uint8 [1, channels, H, W],
    the picture at its own shape for a fully convolutional model.

    The picture is scaled down (never up) so its padded longest side is at most cap, then
    padded on the right and at the bottom with its background colour (the median of its
    border) until H and W are multiples of `multiple` (the model's downsampling);
    Upload.picture_size says where the picture ends. Any side of 1 pixel or more is used:
    padding, not scaling, makes a thin picture fit. invert and background as for
    read_image. Raises VQVAEError for a file it cannot use.
    """
    if cap < multiple:
        raise VQVAEError(f"a cap of {cap} pixels is below the model's downsampling ({multiple}): "
                         f"use a cap of at least {multiple}")
    longest = cap // multiple * multiple  # so the padding cannot push a side past the cap
    notes: list[str] = []
    im, upload, upright = _prepared(data, channels, longest, 1, notes, background)
    if im.size != upright:
        notes.append(f"scaled from {upright[0]} x {upright[1]} to {im.width} x {im.height} "
                     f"(the longest side capped at {longest} pixels)")
    background = _border_median(im)
    invert, invert_note = _inversion(invert, channels, background)
    height, width = -(-im.height // multiple) * multiple, -(-im.width // multiple) * multiple
    if (width, height) != im.size:
        padded = Image.new(im.mode, (width, height), background)
        # At the top left, so cropping back to the picture is a plain slice [:h, :w].
        padded.paste(im, (0, 0))
        notes.append(f"padded on the right and bottom with its background colour ({im.width} x {im.height} -> "
                     f"{width} x {height}), as the model takes sides in multiples of {multiple}")
        upload.picture_size = (im.height, im.width)
        im = padded
    return _finished(upload, im, channels, invert, invert_note, notes)


def _finished(upload: Upload, im: Image.Image, channels: int, invert: bool, invert_note: str,
              notes: list[str]) -> Upload:
    """The prepared picture as the Upload's uint8 [1, channels, H, W] images, inverted when asked."""
    pixels = np.array(im, dtype=np.uint8).reshape(im.height, im.width, channels)  # a writable copy for torch
    if invert:
        pixels = 255 - pixels
        notes.append(invert_note)
    upload.images = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).contiguous()
    upload.inverted = bool(invert)
    upload.notes = notes
    return upload


def _prepared(data: bytes, channels: int, working_side: int, min_side: int, notes: list[str],
              background: tuple[int, ...] | None = None) -> tuple[Image.Image, Upload, tuple[int, int]]:
    """The steps both readers share: decoded, upright, 8 bits, at most working_side pixels a
    side, transparency flattened (onto `background` when given), in the model's channels.
    Returns the picture, the Upload describing the file (its images not set yet) and the
    upright (width, height) as stored."""
    background = _checked_background(background, channels)  # before decoding: a bad colour is the caller's mistake
    im, stored = decode(data, working_side, min_side, notes)
    size_as_stored = im.size
    im = turned_upright(im, notes)
    turned = im.size != size_as_stored
    upload = Upload(torch.empty(0, dtype=torch.uint8), stored.width, stored.height, stored.mode, stored.format)
    im = eight_bit(im, notes)
    im = _shrunk(im, working_side)
    # Before _with_channels: the alpha must be composited while it is still there.
    im = _flattened(im, notes, background)
    upright_size = (stored.height, stored.width) if turned else (stored.width, stored.height)
    return _with_channels(im, channels, notes), upload, upright_size


def _inversion(invert: bool | None, channels: int, background: tuple[int, ...]) -> tuple[bool, str]:
    """Whether to invert, and the note that says why: by itself only a grayscale model on a
    light background (MNIST is light strokes on black); a forced choice is followed."""
    if invert is not None:
        return invert, "inverted, as asked"
    light_background = channels == 1 and background[0] > 127
    return light_background, "inverted: dark strokes on a light background, as MNIST is the other way round"


def _shrunk(im: Image.Image, longest: int) -> Image.Image:
    """A picture larger than longest pixels a side scaled down to it (keeping its shape), so
    the later steps are cheap; Pillow premultiplies alpha for LA and RGBA while resampling."""
    width, height = im.size
    if max(width, height) <= longest:
        return im
    scale = longest / max(width, height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return im.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _flattened(im: Image.Image, notes: list[str], background: tuple[int, ...] | None = None) -> Image.Image:
    """LA or RGBA -> L or RGB, the transparent pixels put on a plain background.

    Given the model's background (one value a channel of the model), that colour: a colour
    model trained on artworks on white gets white, not black. Without it, or for a grayscale
    model whose background is dark: MNIST's background is black, so black is the natural
    choice, and right for a light drawing. But a sketch app usually exports dark ink on a
    transparent sheet, which would vanish on black: when what is drawn (the mostly opaque
    pixels) is dark, the background is white instead, and the auto-invert then turns it
    into a light digit on black.
    """
    if im.mode not in ("LA", "RGBA"):
        return im
    alpha = im.getchannel("A")
    colour = im.convert(im.mode[:-1])
    alpha_values = np.asarray(alpha)
    if alpha_values.min() == 255:
        return colour  # fully opaque: the alpha channel changes nothing
    drawn = np.asarray(colour.convert("L"))[alpha_values >= 128]
    dark_drawing = drawn.size > 0 and float(np.median(drawn)) < 128
    if background is None or (len(background) == 1 and background[0] < 128 and dark_drawing):
        level = 255 if dark_drawing else 0
        fill = (level,) * len(colour.getbands())
        note = ("transparent pixels put on white, as the drawing is dark" if dark_drawing
                else "transparent pixels put on black")
    else:
        gray_background = len(set(background)) == 1
        if colour.mode == "L" and not gray_background:
            # A coloured background for a gray picture: composited in L it would turn gray.
            colour = colour.convert("RGB")
        bands = len(colour.getbands())
        fill = background if len(background) == bands else background[:1] * bands  # gray: the same in L or RGB
        note = f"transparent pixels put on {_colour_words(background)}, the model's background"
    flat = Image.new(colour.mode, colour.size, fill)
    flat.paste(colour, mask=alpha)
    notes.append(note)
    if im.mode == "LA" and flat.mode == "RGB":  # _with_channels will see RGB, so it is said here
        notes.append("grayscale copied into the three channels of this colour model")
    return flat


def _colour_words(colour: tuple[int, ...]) -> str:
    """A background colour as a person would say it: white, black, gray level 200, RGB (255, 203, 5)."""
    if set(colour) == {255}:
        return "white"
    if set(colour) == {0}:
        return "black"
    return f"gray level {colour[0]}" if len(colour) == 1 else f"RGB ({', '.join(map(str, colour))})"


def _checked_background(background, channels: int) -> tuple[int, ...] | None:
    """The model's background as a tuple of 1 or 3 ints in 0..255 (None stays None); 3 values
    for a grayscale model become their luma, so a coloured background implies a colour model."""
    if background is None:
        return None
    values = tuple(int(v) for v in background)
    if len(values) not in (1, 3) or not all(0 <= v <= 255 for v in values):
        raise VQVAEError(f"a background colour is 1 or 3 values in 0..255 (one a channel of the model), "
                         f"not {tuple(background)}")
    if channels == 1 and len(values) == 3:
        r, g, b = values
        return (round((299 * r + 587 * g + 114 * b) / 1000),)  # ITU-R 601 luma, as Pillow's convert("L")
    return values


def background_of(images: torch.Tensor) -> tuple[int, ...]:
    """uint8 images [N, C, H, W] -> their background colour, C ints in 0..255: the median, a
    channel, of every image's outermost rows and columns (Pokemon artworks: about white;
    MNIST: black)."""
    if images.dim() != 4 or images.numel() == 0:
        raise VQVAEError(f"background_of takes a batch of images [N, C, H, W], got {list(images.shape)}")
    images = images.detach().cpu()
    # [N, C, 2W + 2H]: corners are counted twice, which a median over thousands of pixels shrugs off
    border = torch.cat([images[:, :, 0, :], images[:, :, -1, :], images[:, :, :, 0], images[:, :, :, -1]], dim=-1)
    values = border.transpose(0, 1).reshape(images.shape[1], -1).numpy()
    return tuple(int(v) for v in np.median(values, axis=1).round())


def _with_channels(im: Image.Image, channels: int, notes: list[str]) -> Image.Image:
    """L or RGB -> the model's channels: luma for a grayscale model, gray replicated for a colour one."""
    if channels == 1 and im.mode == "RGB":
        rgb = np.asarray(im).astype(np.int16)
        # A gray picture stored as RGB (or a JPEG of one, off by a level here and there) loses nothing.
        if int((rgb.max(axis=-1) - rgb.min(axis=-1)).max()) > 16:
            notes.append("colour converted to grayscale for this model")
        return im.convert("L")
    if channels == 3 and im.mode == "L":
        notes.append("grayscale copied into the three channels of this colour model")
        return im.convert("RGB")
    return im


def _border_median(im: Image.Image) -> tuple[int, ...]:
    """The median colour of the outermost rows and columns, one value a channel: the picture's background."""
    pixels = np.asarray(im).reshape(im.height, im.width, -1)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return tuple(int(v) for v in np.median(border, axis=0).round())


def _padded_square(im: Image.Image, fill: tuple[int, ...]) -> Image.Image:
    """The picture centred on a square of its background colour, so nothing is cropped or stretched."""
    side = max(im.size)
    square = Image.new(im.mode, (side, side), fill)
    square.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return square
