"""The bench's interaction rows (--interaction): the server-side work behind one
click, with the models cached, on the bundled models (the Pokémon ones are the heavier:
16 x 16 codes, K 2048, 64 px colour).

- an edited code: one cell changed, the grid decoded, enlarged and outlined, and the code
  map redrawn, against decoding from the picture again (encode, edit, decode);
- a sampling step in step mode: draw the next code, the prior's top 8 at the following
  position with their atlas tiles, the entropy map and the partial decode;
- a 10-step walk: both strips (code space and pixel blend) and the change counts, against
  the same walk done one step at a time (encode, snap, decode each picture alone);
- a canvas stroke: the drawing at the model's size, reconstructed and drawn with its code
  map, against reading the whole canvas as a full-size upload.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

from bench.table import compare, row
from bench.timing import median_seconds
from vqvae.dashboard.codebook_view import atlas, enlarge
from vqvae.dashboard.plots import code_map, entropy_map, walk_changes
from vqvae.store.load import load_prior, load_vqvae
from vqvae.data.datasets import bundled_mnist, bundled_pokemon
from vqvae.store.hub import BUNDLED_DIR
from vqvae.models.editing import CodeEdits, outline_cells
from vqvae.models.stepping import StepSampler
from vqvae.models.walk import walk
from vqvae.data.drawing import canvas_png
from vqvae.data.uploads import read_image, read_image_full
from vqvae.training.evaluate import reconstruct

CANVAS_PIXELS = 280  # the dashboard's canvas, a side (pages/drawing.py)

TOP_SHOWN, WALK_STEPS, REPEATS = 8, 10, 20


def step_seconds(name: str) -> float:
    folder = BUNDLED_DIR / f"{name}-prior"
    prior, vqvae = load_prior(folder), load_vqvae(folder / "vqvae")
    stepper = StepSampler(prior, vqvae, seed=0, label=0)

    def one_click():
        if stepper.done >= stepper.total - 1:
            stepper.__init__(prior, vqvae, seed=0, label=0)
        stepper.step()
        codes, _ = stepper.likeliest(TOP_SHOWN)
        enlarge(atlas(vqvae, 3, codes), 70)
        entropy_map(stepper.entropy, stepper.position, prior.config.codebook_size).to_json()
        stepper.decoded()

    return median_seconds(one_click, REPEATS, warm=True)


def walk_seconds(name: str, images: torch.Tensor) -> tuple[float, float]:
    model = load_vqvae(BUNDLED_DIR / name)
    start, end = images[0].float() / 255, images[1].float() / 255

    def batched():
        result = walk(model, start, end, WALK_STEPS)
        walk_changes(result.changed, result.codes[0].numel()).to_json()

    @torch.no_grad()
    def one_at_a_time():
        z = model.encode_continuous(torch.stack([start, end]))
        pictures, codes = [], []
        for w in torch.linspace(0, 1, WALK_STEPS):
            codes.append(model.nearest_codes(((1 - w) * z[0] + w * z[1])[None]))
            pictures.append(model.decode(codes[-1]))
            ((1 - w) * start + w * end)  # the blend
        changed = [int((a != b).sum()) for a, b in zip(codes[1:], codes[:-1])]
        walk_changes(changed, codes[0].numel()).to_json()

    return median_seconds(batched, REPEATS, warm=True), median_seconds(one_at_a_time, REPEATS, warm=True)


def edit_seconds(name: str, images: torch.Tensor) -> tuple[float, float]:
    model = load_vqvae(BUNDLED_DIR / name)
    picture = images[:1].float() / 255
    edits = CodeEdits(model.encode(picture)[0], model.config.codebook_size)
    usage = torch.ones(model.config.codebook_size, dtype=torch.long)

    def edited():
        edits.set(1, 2, (int(edits.codes[1, 2]) + 1) % model.config.codebook_size)
        big = enlarge(model.decode(edits.codes[None]), 280)
        outline_cells(big, edits.changed, model.config.downsample * big.shape[-1] // picture.shape[-1])
        code_map(edits.codes, usage, marked=edits.changed).to_json()

    def from_the_picture():
        codes = model.encode(picture)
        codes[0, 1, 2] = (int(codes[0, 1, 2]) + 1) % model.config.codebook_size
        enlarge(model.decode(codes), 280)
        code_map(codes[0], usage).to_json()

    return median_seconds(edited, REPEATS, warm=True), median_seconds(from_the_picture, REPEATS, warm=True)


def a_stroke(channels: int) -> np.ndarray:
    """The canvas's pixels after one stroke: a thick diagonal line, RGBA [280, 280, 4]."""
    canvas = Image.new("RGBA", (CANVAS_PIXELS, CANVAS_PIXELS), (0, 0, 0, 0))
    colour = (0, 0, 0, 255) if channels == 1 else (214, 39, 40, 255)
    ImageDraw.Draw(canvas).line([(70, 60), (200, 230)], fill=colour, width=20)
    return np.asarray(canvas)


def stroke_seconds(name: str) -> tuple[float, float]:
    """A stroke redrawn as its reconstruction: the canvas's pixels to a picture at the model's
    size, encoded, decoded, enlarged and its code map drawn; against the same with the
    canvas read as a full-size upload (every canvas pixel encoded)."""
    model = load_vqvae(BUNDLED_DIR / name)
    c = model.config
    rgba = a_stroke(c.in_channels)
    usage = torch.ones(c.codebook_size, dtype=torch.long)

    def shown(images):
        result = reconstruct(model, images)
        enlarge(result.reconstruction, 280)
        code_map(result.codes[0], usage).to_json()

    def ours():
        shown(read_image(canvas_png(rgba, c.image_size), c.in_channels, c.image_size).images)

    def as_an_upload():
        png = io.BytesIO()
        Image.fromarray(rgba).save(png, "PNG")
        shown(read_image_full(png.getvalue(), c.in_channels, c.downsample).images)

    return median_seconds(ours, REPEATS, warm=True), median_seconds(as_an_upload, REPEATS, warm=True)


def interaction_rows() -> list[dict]:
    edits = {"mnist-ema": edit_seconds("mnist-ema", bundled_mnist().val),
             "pokemon-ema": edit_seconds("pokemon-ema", bundled_pokemon().val)}
    slowest = max(edits, key=lambda n: edits[n][0])
    rows = [row("an edited code decoded and drawn, models cached", edits[slowest][0] * 1000, edits[slowest][1] * 1000,
                "ms", bigger_is_better=False, target=compare("<", 100, "ms"),
                note=f"median of {REPEATS}; baseline: encoding the picture again before the edit; "
                     + ", ".join(f"{n} {o * 1000:.1f} / {b * 1000:.1f} ms" for n, (o, b) in edits.items()))]
    steps = {name: step_seconds(name) for name in ("mnist-ema", "pokemon-ema")}
    slowest = max(steps, key=steps.get)
    rows.append(row("sampling step in step mode, models cached", steps[slowest] * 1000, None, "ms",
                    bigger_is_better=False, target=compare("<", 300, "ms"),
                    note=f"median of {REPEATS} clicks: the next code drawn, the top {TOP_SHOWN} at the following "
                         "position with atlas tiles, the entropy map and the partial decode; "
                         + ", ".join(f"{n} {s * 1000:.1f} ms" for n, s in steps.items())))
    walks = {"mnist-ema": walk_seconds("mnist-ema", bundled_mnist().val[:2]),
             "pokemon-ema": walk_seconds("pokemon-ema", bundled_pokemon().val[:2])}
    slowest = max(walks, key=lambda n: walks[n][0])
    ours, base = walks[slowest]
    rows.append(row(f"{WALK_STEPS}-step walk, models cached", ours * 1000, base * 1000, "ms", bigger_is_better=False,
                    target=compare("<", 500, "ms"),
                    note=f"median of {REPEATS}; baseline: the same walk one step at a time; "
                         + ", ".join(f"{n} {o * 1000:.1f} / {b * 1000:.1f} ms" for n, (o, b) in walks.items())))
    strokes = {name: stroke_seconds(name) for name in ("mnist-ema", "pokemon-ema")}
    slowest = max(strokes, key=lambda n: strokes[n][0])
    ours, base = strokes[slowest]
    rows.append(row("a canvas stroke redrawn as its reconstruction, models cached", ours * 1000, base * 1000, "ms",
                    bigger_is_better=False, target=compare("<", 150, "ms"),
                    note=f"median of {REPEATS}: the canvas's pixels at the model's size, encoded, decoded, enlarged, "
                         "the code map drawn; baseline: the canvas read as a full-size upload; "
                         + ", ".join(f"{n} {o * 1000:.1f} / {b * 1000:.1f} ms" for n, (o, b) in strokes.items())))
    return rows
