"""`compress`, `decompress` and `bits`: a picture's codes as a real file, entropy-coded with a
prior (vqvae.store.codec), and weighed against PNG, JPEG and WebP
(vqvae.training.rate_distortion). Everything runs on the CPU, so a file decodes the same
everywhere this library runs the same."""

from __future__ import annotations

import argparse
from pathlib import Path

from vqvae.errors import VQVAEError


def read_picture(path: Path, vqvae):
    """An image file as the model sees it, at its own shape (padded to the downsampling)."""
    from vqvae.data.uploads import read_image_full

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VQVAEError(f"cannot read {path} ({exc.strerror}): check the path") from None
    c = vqvae.config
    try:
        return read_image_full(data, c.in_channels, c.downsample)
    except VQVAEError as exc:
        raise VQVAEError(f"{path}: {exc}") from None


def prior_and_vqvae(ref):
    from vqvae.cli.commands import located
    from vqvae.store.load import load_prior, load_vqvae
    from vqvae.store.provenance import vqvae_of_prior

    folder = located(ref, "prior")
    return load_prior(folder), load_vqvae(vqvae_of_prior(folder))


def cmd_compress(args: argparse.Namespace) -> int:
    from vqvae import files
    from vqvae.models.two_level import encode_image_grids
    from vqvae.store.codec import compress

    prior, vqvae = prior_and_vqvae(args.prior)
    upload = read_picture(args.image, vqvae)
    top, bottom = encode_image_grids(vqvae, upload.images)
    coded = compress(prior, vqvae, bottom[0], None if top is None else top[0], upload.picture_size,
                     inverted=upload.inverted)
    write(args.out, coded.data, files.atomic_write_bytes)
    h, w = bottom.shape[-2:]
    label = f", coded as class {coded.label}" if coded.label is not None else ""
    print(f"wrote {args.out}: {len(coded.data)} bytes for {h} x {w} codes"
          + (f" + {top.shape[-2]} x {top.shape[-1]}" if top is not None else "")
          + f" ({coded.bits:.0f} bits under the prior{label})")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from vqvae import files
    from vqvae.store.codec import decompress, read_header

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise VQVAEError(f"cannot read {args.file} ({exc.strerror}): check the path") from None
    header = read_header(data)
    prior, vqvae = prior_and_vqvae(args.prior) if args.prior else bundled_prior_of(header.fingerprint)
    top, bottom, header = decompress(data, prior, vqvae)
    pictures = vqvae.decode_levels(top[None], bottom[None]) if top is not None else vqvae.decode(bottom[None])
    height, width = header.picture_size
    picture = pictures[0, :, :height, :width]
    write(args.out, 1 - picture if header.inverted else picture, files.atomic_write_png)
    print(f"wrote {args.out}: {width} x {height} pixels from {bottom.shape[-2]} x {bottom.shape[-1]} codes")
    return 0


def bundled_prior_of(fingerprint: bytes):
    """The bundled prior (and its VQ-VAE) whose weights carry this fingerprint."""
    from vqvae.store.codec import fingerprint as of
    from vqvae.store.hub import bundled_models

    for name in bundled_models("prior"):
        prior, vqvae = prior_and_vqvae(name)
        if of(prior) == fingerprint:
            return prior, vqvae
    raise VQVAEError("the file was coded with a prior that is not bundled: pass that prior as --prior")


def cmd_bits(args: argparse.Namespace) -> int:
    from vqvae import files
    from vqvae.training.rate_distortion import weigh

    prior, vqvae = prior_and_vqvae(args.prior)
    upload = read_picture(args.image, vqvae)
    summary = weigh(prior, vqvae, upload.images, upload.picture_size).summary()
    if args.json:
        if args.json.suffix != ".json":
            raise VQVAEError(f"--json {args.json} is not a .json file: give it a .json name")
        write(args.json, summary, files.atomic_write_json)
    print(f"PSNR {summary['psnr']:.2f} dB; under the prior {summary['prior_bits']:.0f} bits "
          f"(fixed rate {summary['fixed_rate_bits']:.0f}); the coded file {summary['file_bytes']} bytes")
    for fmt in ("jpeg", "webp"):
        at = summary[fmt]
        size = f"{at['bytes']:.0f} bytes" if at["above"] else f"never reaches it ({at['bytes']:.0f} bytes at quality 100)"
        print(f"{fmt.upper()} at the same PSNR: {size}")
    print(f"PNG (lossless): {summary['png_bytes']} bytes")
    return 0


def write(path: Path, content, writer) -> None:
    try:
        writer(path, content)
    except OSError as exc:
        raise VQVAEError(f"cannot write {path} ({exc.strerror}): choose another path") from None
