"""The codec: a picture's codes entropy-coded with a prior round-trip exactly, in a file no
larger than the prior's bits plus a small header; a damaged, foreign or mismatched file is
refused; the classic codecs' equal-PSNR search brackets its target."""

from __future__ import annotations

import math

import pytest
import torch

from vqvae.data.classic_codecs import at_psnr, decoded_psnr, encode, payload_bytes
from vqvae.errors import VQVAEError
from vqvae.models.two_level import encode_image_grids
from vqvae.store.codec import HEADER, compress, decompress, read_header
from vqvae.store.hub import BUNDLED_DIR, bundled_models
from vqvae.store.load import load_prior, load_vqvae
from vqvae.store.provenance import held_out_of_vqvae, vqvae_of_prior

PRIORS = bundled_models("prior")


def pair(name: str):
    folder = BUNDLED_DIR / name
    vqvae_folder = vqvae_of_prior(folder)
    vqvae = load_vqvae(vqvae_folder)
    return load_prior(folder), vqvae, held_out_of_vqvae(vqvae_folder, vqvae)[0].val


@pytest.fixture(scope="module")
def mnist_pair():
    return pair("mnist-ema-prior")


def test_every_bundled_prior_is_a_prior_of_both_data_sets():
    assert {"mnist-ema-prior", "mnist-vq2-prior", "pokemon-ema-prior", "pokemon-vq2-prior"} <= set(PRIORS)


@pytest.mark.parametrize("name", PRIORS)
def test_codes_round_trip_exactly_in_at_most_their_bits_plus_64_bytes(name):
    prior, vqvae, held_out = pair(name)
    top, bottom = encode_image_grids(vqvae, held_out[:4])
    c = vqvae.config
    for k in range(4):
        coded = compress(prior, vqvae, bottom[k], None if top is None else top[k])
        assert len(coded.data) <= coded.bits / 8 + 64
        fixed = bottom[k].numel() * math.log2(c.codebook_size) + (top[k].numel() * math.log2(c.top_codes) if top is not None else 0)
        assert coded.bits == pytest.approx(float(coded.surprise.sum()) + (float(coded.top_surprise.sum()) if top is not None else 0))
        assert 0 < coded.bits < fixed  # the prior compresses
        got_top, got_bottom, header = decompress(coded.data, prior, vqvae)
        assert torch.equal(got_bottom, bottom[k]) and (top is None or torch.equal(got_top, top[k]))
        assert header.picture_size == (c.image_size, c.image_size) and header.label == coded.label


def test_a_full_size_grid_of_any_shape_round_trips(mnist_pair):
    prior, vqvae, _ = mnist_pair
    codes = torch.randint(0, vqvae.config.codebook_size, (5, 11), generator=torch.Generator().manual_seed(0))
    coded = compress(prior, vqvae, codes, picture_size=(19, 41), label=3, inverted=True)
    top, got, header = decompress(coded.data, prior, vqvae)
    assert top is None and torch.equal(got, codes)
    assert (header.picture_size, header.label, header.inverted) == ((19, 41), 3, True)
    assert len(coded.data) <= coded.bits / 8 + 64  # random codes: many bits, still within the bound


def test_the_cheapest_class_is_the_one_coded(mnist_pair):
    prior, vqvae, held_out = mnist_pair
    _, bottom = encode_image_grids(vqvae, held_out[:1])
    best = compress(prior, vqvae, bottom[0])
    others = [compress(prior, vqvae, bottom[0], label=label).bits for label in range(10)]
    assert best.bits == pytest.approx(min(others)) and best.label == others.index(min(others))


@pytest.mark.parametrize("damage, said", [
    (lambda d: b"PK\x03\x04" + d[4:], "not a VQ-VAE Lab code file"),
    (lambda d: d[:10], "not a VQ-VAE Lab code file"),
    (lambda d: d[:3] + b"\x09" + d[4:], "format 9"),
    (lambda d: d[:-1], "cut short"),
    (lambda d: d[:-4], "checksum"),
    (lambda d: d[:-4] + bytes([d[-4] ^ 1]) + d[-3:], "checksum"),
    (lambda d: d[:12] + bytes([d[12] ^ 1]) + d[13:], "checksum"),
], ids=["foreign", "too short", "other format", "cut", "a word short", "a flipped bit", "a flipped header bit"])
def test_a_damaged_or_foreign_file_is_refused_in_words(mnist_pair, damage, said):
    prior, vqvae, held_out = mnist_pair
    _, bottom = encode_image_grids(vqvae, held_out[:1])
    data = compress(prior, vqvae, bottom[0]).data
    with pytest.raises(VQVAEError, match=said):
        decompress(damage(data), prior, vqvae)


def test_a_file_of_another_prior_is_refused(mnist_pair):
    prior, vqvae, held_out = mnist_pair
    _, bottom = encode_image_grids(vqvae, held_out[:1])
    data = compress(prior, vqvae, bottom[0]).data
    other = load_prior(BUNDLED_DIR / "mnist-plain-prior")
    with pytest.raises(VQVAEError, match="made with another prior"):
        decompress(data, other, load_vqvae(vqvae_of_prior(BUNDLED_DIR / "mnist-plain-prior")))
    assert read_header(data).height == 7 and len(data) > HEADER.size


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_the_equal_psnr_search_brackets_its_target_between_neighbouring_qualities(mnist_pair, fmt):
    _, _, held_out = mnist_pair
    picture = held_out[0]
    target = decoded_psnr(picture, encode(picture, fmt, 40)) - 0.05  # a PSNR some quality reaches
    found = at_psnr(picture, fmt, target)
    (q_low, p_low, b_low), (q_high, p_high, b_high) = found.below, found.above
    assert q_high == q_low + 1 and p_low < target <= p_high
    assert abs(p_low + (found.bytes - b_low) / (b_high - b_low or 1) * (p_high - p_low) - target) < 0.1 or b_high == b_low
    assert min(b_low, b_high) <= found.bytes <= max(b_low, b_high)
    assert 0 < found.payload_bytes < found.bytes  # the headers left out


def test_an_unreachable_psnr_says_so(mnist_pair):
    _, _, held_out = mnist_pair
    found = at_psnr(held_out[0], "jpeg", 99.0)
    assert not found.reached and found.below[0] == 100


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_the_payload_leaves_out_the_headers(mnist_pair, fmt):
    data = encode(mnist_pair[2][0], fmt, 50)
    assert 0 < payload_bytes(fmt, data) < len(data)
