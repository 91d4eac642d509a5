"""The bench's codec rows: held-out pictures' codes entropy-coded with each bundled prior
(`python -m vqvae compress`), against the codes at a fixed rate and against JPEG and WebP
at the same PSNR on the same pictures (Pillow's encoders), with and without the formats'
headers; and one full-size photograph.

The file sizes are real files; each is decoded again and must give back the codes exactly.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from bench.table import against_baseline, compare, holds, row
from vqvae.data.datasets import bundled_data
from vqvae.data.uploads import read_image_full
from vqvae.models.two_level import encode_image_grids
from vqvae.store.codec import decompress
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.load import load_prior, load_vqvae
from vqvae.store.provenance import vqvae_of_prior
from vqvae.training.rate_distortion import weigh

PHOTO = Path(__file__).parent / "data" / "chelsea.png"  # CC0; see bench/data/SOURCE.md
PRIORS = {"mnist": ("mnist-ema-prior", "mnist-vq2-prior"), "pokemon": ("pokemon-ema-prior", "pokemon-vq2-prior")}
FORMATS = {"jpeg": "JPEG", "webp": "WebP"}


def weighed_pictures(prior, vqvae, pictures: list[tuple[torch.Tensor, tuple[int, int] | None]]) -> list[dict]:
    """Each picture (uint8 [1, C, H, W], its picture size) through the codec and the classic
    formats, its file decoded again: the summaries, each with `exact` (the codes came back)."""
    summaries = []
    for images, picture_size in pictures:
        weighed = weigh(prior, vqvae, images, picture_size)
        top, bottom = encode_image_grids(vqvae, images)
        got_top, got_bottom, _ = decompress(weighed.coded.data, prior, vqvae)
        summary = weighed.summary()
        summary["exact"] = torch.equal(got_bottom, bottom[0]) and (top is None or torch.equal(got_top, top[0]))
        summaries.append(summary)
    return summaries


def rows_of(title: str, summaries: list[dict]) -> list[dict]:
    """The rows of one prior on a set of pictures."""
    n = len(summaries)
    mean = lambda key: statistics.fmean(s[key] for s in summaries)  # noqa: E731
    overhead = max(s["file_bytes"] - s["prior_bits"] / 8 for s in summaries)
    exact = all(s["exact"] for s in summaries)
    made = [
        row(f"{title}: bits an image under the prior", mean("prior_bits"), mean("fixed_rate_bits"), "bits",
            bigger_is_better=False, target=against_baseline("<"),
            note=f"baseline: every code at log2 K bits; {n} pictures, PSNR {mean('psnr'):.2f} dB"),
        row(f"{title}: the file over the prior's bits, exact round trip", overhead, None, "bytes",
            target=compare("<=", 64, "bytes") & holds("codes back exactly", "exact"), exact=exact,
            note=f"the largest file minus the prior's bits / 8 (its header is {summaries[0]['file_bytes'] - summaries[0]['file_payload_bytes']} bytes)"),
    ]
    for fmt, name in FORMATS.items():
        reached = [s for s in summaries if s[fmt]["above"] is not None]
        if not reached:
            made.append(row(f"{title}: file bytes against {name} at equal PSNR", mean("file_bytes"), None, "bytes",
                            note=f"{name} reaches the PSNR on none of the {n} pictures"))
            continue
        ours = statistics.fmean(s["file_bytes"] for s in reached)
        theirs = statistics.fmean(s[f"{fmt}_bytes_at_equal_psnr"] for s in reached)
        wins = sum(s["file_bytes"] < s[f"{fmt}_bytes_at_equal_psnr"] for s in reached)
        payload = statistics.fmean(s["file_payload_bytes"] for s in reached)
        their_payload = statistics.fmean(s[f"{fmt}_payload_bytes_at_equal_psnr"] for s in reached)
        payload_wins = sum(s["file_payload_bytes"] < s[f"{fmt}_payload_bytes_at_equal_psnr"] for s in reached)
        made.append(row(f"{title}: file bytes against {name} at equal PSNR", ours, theirs, "bytes",
                        bigger_is_better=False, note=f"smaller on {wins} of {len(reached)} pictures"
                        + (f" ({n - len(reached)} never reached by {name})" if len(reached) < n else "")))
        made.append(row(f"{title}: without the headers, against {name}", payload, their_payload, "bytes",
                        bigger_is_better=False, note=f"the bytes that code the pixels; smaller on {payload_wins} "
                                                     f"of {len(reached)}"))
    return made


def held_out_pictures(dataset: str, vqvae, n: int) -> list[tuple[torch.Tensor, None]]:
    data = bundled_data(dataset)  # at the bundled models' own sizes: 28 px grey, 64 px colour
    return [(data.val[i : i + 1], None) for i in range(min(n, len(data.val)))]


def photo_picture(vqvae) -> list[tuple[torch.Tensor, tuple[int, int]]]:
    c = vqvae.config
    upload = read_image_full(PHOTO.read_bytes(), c.in_channels, c.downsample)
    return [(upload.images, upload.picture_size)]


def codec_rows(quick: bool = False) -> list[dict]:
    """Every bundled prior on its held-out pictures (200 MNIST digits, 100 Pokémon; a tenth
    with quick), and the Pokémon priors on the full-size photograph."""
    rows = []
    for dataset, names in PRIORS.items():
        n = (20 if quick else 200) if dataset == "mnist" else (10 if quick else 100)
        for name in names:
            prior = load_prior(BUNDLED_DIR / name)
            vqvae = load_vqvae(vqvae_of_prior(BUNDLED_DIR / name))
            rows += rows_of(f"{name}, held-out", weighed_pictures(prior, vqvae, held_out_pictures(dataset, vqvae, n)))
            if dataset == "pokemon":
                photo = photo_picture(vqvae)
                h, w = photo[0][1]
                rows += rows_of(f"{name}, a {w} x {h} photograph", weighed_pictures(prior, vqvae, photo))
    return rows
