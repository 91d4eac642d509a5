"""Make the bundled Pokémon data set (vqvae/assets/pokemon/) from the second tutorial's
800 artwork images (`<primary type>/<name>.jpg`, RGB on white, 150-224 px, not square):

    python scripts/vendor_pokemon.py ../shared/data/pokemon

Each picture is padded to a square with its background colour (nothing is cropped off),
resized to SIZE x SIZE, and all of them are stored as one compressed uint8 array with each
picture's type as its label, so `pokemon` trains offline everywhere, as MNIST does.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
SIZE = 64  # the largest size a preset uses
OUT = REPO / "vqvae" / "assets" / "pokemon"


def square(im: Image.Image) -> Image.Image:
    """The picture centred on a square of its border's median colour."""
    pixels = np.asarray(im)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    fill = tuple(int(v) for v in np.median(border, axis=0))
    side = max(im.size)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the folder of type folders")
    args = parser.parse_args()
    types = sorted(p.name for p in args.source.iterdir() if p.is_dir())
    images, labels, names = [], [], []
    for label, kind in enumerate(types):
        for path in sorted((args.source / kind).glob("*.jpg")):
            with Image.open(path) as im:
                im = square(ImageOps.exif_transpose(im).convert("RGB"))
                im = im.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
            images.append(np.asarray(im).transpose(2, 0, 1))
            labels.append(label)
            names.append(path.stem)
    OUT.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=np.stack(images).astype(np.uint8), labels=np.array(labels, dtype=np.int64),
                        types=np.array(types), names=np.array(names))
    data = buffer.getvalue()
    (OUT / f"pokemon-{SIZE}.npz").write_bytes(data)
    shutil.copyfile(args.source / "SOURCE.md", OUT / "SOURCE.md")
    print(f"{len(images)} pictures of {len(types)} types, {len(data) / 2**20:.1f} MB, "
          f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
