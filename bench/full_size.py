"""The bench's full-size row: a 4000 x 3000 colour JPEG read, fitted to the 256-pixel cap,
encoded and decoded by a cached colour conv model, against PIL's full decode (no draft), a
resize and the same model."""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from bench.table import compare, row
from bench.timing import median_seconds
from vqvae.data.uploads import FULL_SIZE_CAP, read_image_full
from vqvae.models.autoencoder import VQVAE
from vqvae.presets import preset
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.load import load_vqvae
from vqvae.training.evaluate import reconstruct


def large_jpeg() -> bytes:
    """4000 x 3000 colour ramps with grain, as JPEG at quality 90."""
    y, x = np.mgrid[0:3000, 0:4000]
    ramps = np.stack([x * 255 // 3999, y * 255 // 2999, (x + y) * 255 // 6998], axis=-1)
    grain = np.random.default_rng(0).integers(-30, 31, ramps.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(ramps + grain, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def full_size_speed(repeats: int = 5) -> tuple[float, float, str]:
    """Median seconds from the bytes of the JPEG to its full-size reconstruction: ours
    (read_image_full: a draft decode at 1/8 scale, then the cap) against a full decode, a
    resize and the same model; with the model's name and sizes for the note. The model is
    loaded once, as the page caches it; its weights do not change the timing."""
    jpeg = large_jpeg()
    folder = BUNDLED_DIR / "pokemon-ema"
    model = load_vqvae(folder) if folder.is_dir() else VQVAE(preset("pokemon").model)
    model.eval()
    multiple = model.config.downsample

    def ours():
        upload = read_image_full(jpeg, 3, multiple, FULL_SIZE_CAP)
        return reconstruct(model, upload.images, upload.picture_size)

    @torch.no_grad()
    def baseline():
        im = Image.open(io.BytesIO(jpeg)).convert("RGB")  # every one of the 12 million pixels decoded
        scale = FULL_SIZE_CAP / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        x = transforms.ToTensor()(im).unsqueeze(0)
        x = F.pad(x, (0, -x.shape[-1] % multiple, 0, -x.shape[-2] % multiple), mode="replicate")
        return model.decode(model.encode(x))

    result = ours()
    h, w = result.codes.shape[-2:]
    name = "pretrained/pokemon-ema" if folder.is_dir() else "the pokemon preset's model, untrained"
    note = (f"{len(jpeg) / 1e6:.1f} MB JPEG, quality 90 -> {result.reconstruction.shape[-1]} x "
            f"{result.reconstruction.shape[-2]} pixels, {w} x {h} codes, {result.psnr:.1f} dB; {name}; "
            f"median of {repeats}")
    return median_seconds(ours, repeats), median_seconds(baseline, repeats), note


def full_size_rows() -> list[dict]:
    ours, base, note = full_size_speed()
    return [row("full-size reconstruction", ours, base, "s", bigger_is_better=False, target=compare("<", 1, "s"),
                note=note + "; baseline: PIL's full decode (no draft), a resize and the same model")]
