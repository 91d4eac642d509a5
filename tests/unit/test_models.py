"""The two model families: shapes of codes and images, ranges, dtypes, RGB, code_dim."""

from __future__ import annotations

import pytest
import torch

from conftest import random_images
from vqvae import VQVAE, ModelConfig, VQVAEError


@pytest.mark.parametrize(
    "overrides, image_size, grid",
    [
        (dict(arch="conv", stages=2), 28, 7),
        (dict(arch="conv", stages=3), 32, 4),
        (dict(arch="conv", stages=1), 28, 14),
        (dict(arch="patch", patch=4), 28, 7),
        (dict(arch="patch", patch=7), 28, 4),
    ],
)
@pytest.mark.parametrize("quantizer", ["plain", "ema"])
def test_code_grid_and_image_shapes(tiny_config, overrides, image_size, grid, quantizer):
    torch.manual_seed(0)
    cfg = tiny_config(image_size=image_size, quantizer=quantizer, **overrides)
    assert cfg.grid_size == grid
    model = VQVAE(cfg)
    x = random_images(3, size=image_size)

    z = model.encode_continuous(x)
    assert z.shape == (3, cfg.code_dim, grid, grid)

    codes = model.encode(x)
    assert codes.shape == (3, grid, grid)
    assert codes.dtype == torch.int64
    assert int(codes.min()) >= 0 and int(codes.max()) < cfg.codebook_size

    images = model.decode(codes)
    assert images.shape == (3, 1, image_size, image_size)
    assert images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0

    out = model.eval()(x)
    assert out.reconstruction.shape == x.shape
    assert torch.equal(out.indices, codes)  # encode() picks the same codes as forward()


def test_decode_clamps_to_unit_range(tiny_config):
    """An untrained conv decoder overshoots [0, 1] for extreme codes: decode must clamp."""
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer="plain"))
    with torch.no_grad():
        model.quantizer.embedding.weight.mul_(0).add_(torch.randn(16, 8) * 50)
    codes = torch.randint(0, 16, (4, 7, 7))
    with torch.no_grad():
        raw = model.decode_vectors(model.quantizer.lookup(codes).permute(0, 3, 1, 2))
    assert float(raw.min()) < 0 or float(raw.max()) > 1  # the raw output does leave the range
    images = model.decode(codes)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    torch.testing.assert_close(images, raw.clamp(0, 1))


@pytest.mark.parametrize("arch, factor", [("conv", 4), ("patch", 4)])
def test_decode_codes_gives_one_image_per_code(tiny_config, arch, factor):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(arch=arch))
    atlas = model.decode_codes()
    assert atlas.shape == (16, 1, factor, factor)
    assert float(atlas.min()) >= 0 and float(atlas.max()) <= 1
    # Image k is code k decoded alone.
    for k in (0, 5, 15):
        torch.testing.assert_close(atlas[k], model.decode(torch.full((1, 1, 1), k))[0], rtol=0, atol=1e-5)
    some = model.decode_codes(torch.tensor([3, 9]), grid=2)
    assert some.shape == (2, 1, 2 * factor, 2 * factor)
    torch.testing.assert_close(some[1], model.decode(torch.full((1, 2, 2), 9))[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("arch", ["conv", "patch"])
def test_code_dim_different_from_hidden(tiny_config, arch):
    torch.manual_seed(0)
    for code_dim in (3, 16, 40):  # smaller than, equal to and larger than hidden=16
        model = VQVAE(tiny_config(arch=arch, code_dim=code_dim))
        x = random_images(2)
        assert model.encode_continuous(x).shape == (2, code_dim, 7, 7)
        assert model.codebook.shape == (16, code_dim)
        out = model.train()(x)
        assert out.reconstruction.shape == x.shape
        out.reconstruction.mean().backward()


@pytest.mark.parametrize("arch", ["conv", "patch"])
def test_rgb_models(tiny_config, arch):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(arch=arch, in_channels=3, image_size=32))
    x = random_images(2, channels=3, size=32)
    codes = model.encode(x)
    assert codes.shape == (2, 8, 8)
    images = model.decode(codes)
    assert images.shape == (2, 3, 32, 32)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    assert model.decode_codes().shape == (16, 3, 4, 4)
    with pytest.raises(VQVAEError, match="RGB"):
        model.encode(random_images(2, channels=1, size=32))


def test_bad_inputs_raise_vqvae_error(tiny_config):
    model = VQVAE(tiny_config())
    with pytest.raises(VQVAEError, match="0..15"):
        model.decode(torch.full((1, 7, 7), 16))
    with pytest.raises(VQVAEError, match="0..15"):
        model.decode(torch.full((1, 7, 7), -1))
    with pytest.raises(VQVAEError, match="multiples of 4"):
        model.encode(random_images(1, size=30))
    with pytest.raises(VQVAEError, match="grayscale"):
        model.encode(random_images(1, channels=3))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(codebook_size=1), "codebook size 1"),
        (dict(image_size=30), "image size 30"),
        (dict(arch="patch", patch=5), "image size 28"),
        (dict(in_channels=2), "channels"),
        (dict(quantizer="vq"), "unknown quantizer"),
        (dict(straight_through="none"), "straight_through"),
        (dict(ema_decay=1.0), "EMA decay"),
        (dict(beta=-1.0), "beta"),
        (dict(code_dim=0), "code_dim"),
    ],
)
def test_invalid_model_config_raises(overrides, message):
    with pytest.raises(VQVAEError, match=message):
        VQVAE(ModelConfig(**{**dict(hidden=16, res_hidden=8, codebook_size=16, code_dim=8), **overrides}))
