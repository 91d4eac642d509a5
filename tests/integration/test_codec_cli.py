"""`compress`, `decompress` and `bits` as a user runs them: a picture to a small file and
back, its numbers against PNG, JPEG and WebP, and every mistake in one line with exit 2."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli


@pytest.fixture(scope="module")
def drawing(tmp_path_factory, mnist) -> Image.Image:
    """A held-out digit drawn dark on white, 3 times the size, as a user would upload one."""
    path = tmp_path_factory.mktemp("pictures") / "digit.png"
    Image.fromarray(255 - mnist.val[3, 0].numpy()).resize((84, 84)).save(path)
    return path


def test_a_picture_goes_to_a_small_file_and_back(drawing, tmp_path):
    coded, back = tmp_path / "digit.vqz", tmp_path / "back.png"
    result = run_cli("compress", drawing, "--prior", "mnist-ema-prior", "--out", coded)
    assert result.returncode == 0, result.stderr
    assert coded.stat().st_size < drawing.stat().st_size / 2  # 21 x 21 codes against the PNG's pixels
    result = run_cli("decompress", coded, "--out", back)  # the bundled prior found by its fingerprint
    assert result.returncode == 0, result.stderr
    with Image.open(back) as decoded, Image.open(drawing) as original:
        assert decoded.size == original.size
        a, b = np.asarray(decoded, dtype=float), np.asarray(original.convert("L"), dtype=float)
        assert a.mean() > 128 and np.abs(a - b).mean() < 40  # dark on white again, and like the drawing


def test_bits_writes_every_number(cli_here, drawing, tmp_path):
    out = tmp_path / "bits.json"
    result = cli_here("bits", "--prior", "mnist-ema-prior", "--image", drawing, "--json", out)
    assert result.returncode == 0, result.stderr
    got = json.loads(out.read_text())
    for key in ("prior_bits", "fixed_rate_bits", "file_bytes", "psnr", "png_bytes", "jpeg_bytes_at_equal_psnr",
                "webp_bytes_at_equal_psnr"):
        assert got[key] > 0, key
    assert got["prior_bits"] < got["fixed_rate_bits"] == 21 * 21 * 7
    assert got["file_bytes"] <= got["prior_bits"] / 8 + 64
    assert "JPEG at the same PSNR" in result.stdout and "PNG (lossless)" in result.stdout


@pytest.mark.parametrize("case, said", [
    ("unreadable image", "cannot read"),
    ("not an image", "notes.txt: this file is not a PNG"),
    ("foreign file", "not a VQ-VAE Lab code file"),
    ("other prior", "made with another prior"),
    ("other model's prior", "made with another prior"),
    ("unwritable out", "cannot write"),
    ("json name", "give it a .json name"),
])
def test_mistakes_are_one_line_and_exit_2(cli_here, drawing, tmp_path, case, said):
    coded = tmp_path / "digit.vqz"
    assert cli_here("compress", drawing, "--prior", "mnist-ema-prior", "--out", coded).returncode == 0
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "zip.vqz").write_bytes(b"PK\x03\x04" + bytes(40))
    args = {
        "unreadable image": ["compress", tmp_path / "nothing.png", "--prior", "mnist-ema-prior", "--out", tmp_path / "x.vqz"],
        "not an image": ["compress", tmp_path / "notes.txt", "--prior", "mnist-ema-prior", "--out", tmp_path / "x.vqz"],
        "foreign file": ["decompress", tmp_path / "zip.vqz", "--out", tmp_path / "x.png"],
        "other prior": ["decompress", coded, "--prior", "mnist-plain-prior", "--out", tmp_path / "x.png"],
        "other model's prior": ["decompress", coded, "--prior", "pokemon-ema-prior", "--out", tmp_path / "x.png"],
        "unwritable out": ["compress", drawing, "--prior", "mnist-ema-prior", "--out", tmp_path / "notes.txt" / "x.vqz"],
        "json name": ["bits", "--prior", "mnist-ema-prior", "--image", drawing, "--json", tmp_path / "x.txt"],
    }[case]
    result = cli_here(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], result.stderr
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.vqz").exists()


def test_a_colour_picture_round_trips_through_a_two_level_prior(cli_here, tmp_path):
    picture = tmp_path / "blob.png"
    pixels = np.zeros((40, 52, 3), dtype=np.uint8) + 255
    pixels[8:30, 10:40] = (220, 60, 30)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    assert cli_here("compress", picture, "--prior", "pokemon-vq2-prior", "--out", tmp_path / "b.vqz").returncode == 0
    result = cli_here("decompress", tmp_path / "b.vqz", "--out", tmp_path / "b.png")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "b.png") as back:
        assert back.size == (52, 40) and back.mode == "RGB"
