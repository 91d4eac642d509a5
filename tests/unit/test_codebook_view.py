"""The codebook views: the atlas of codes decoded alone, and the 2-D projection of the code
vectors among the encoder outputs (positions, nearest codes, dead codes, the figure)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqvae import VQVAE
from vqvae.dashboard.codebook_view import (
    atlas,
    encoder_outputs,
    enlarge,
    frame,
    nearest_distance,
    principal_axes,
    project,
    projection_figure,
    usage_order,
)
from vqvae.models.autoencoder import encode_images
from vqvae.models.metrics import code_usage


@pytest.fixture
def model(tiny_config):
    torch.manual_seed(0)
    return VQVAE(tiny_config(quantizer="plain")).eval()  # K = 16, D = 8, 7 x 7 codes


@pytest.fixture
def images(mnist):
    return mnist.val[:40]  # uint8 [40, 1, 28, 28]


@pytest.mark.parametrize("grid", [1, 3])
def test_atlas_tile_k_is_a_grid_full_of_code_k(model, grid):
    tiles = atlas(model, grid)
    assert tiles.shape == (16, 1, 4 * grid, 4 * grid)
    for k in (0, 7, 15):
        alone = model.decode(torch.full((1, grid, grid), k))
        torch.testing.assert_close(tiles[k], alone[0])
    assert not torch.equal(tiles[0], tiles[7])  # the tiles do depend on the code


def test_atlas_of_chosen_codes_follows_their_order(model):
    order = torch.tensor([5, 2, 9])
    torch.testing.assert_close(atlas(model, 2, order), atlas(model, 2)[order])


def test_usage_order_puts_the_most_used_first_and_breaks_ties_by_id():
    usage = torch.tensor([3, 0, 7, 3, 0, 9])
    assert usage_order(usage).tolist() == [5, 2, 0, 3, 1, 4]


def test_enlarge_repeats_pixels_by_a_whole_factor():
    tiles = torch.rand(2, 1, 4, 4)
    big = enlarge(tiles, 18)  # 18 // 4 = 4 times larger
    assert big.shape == (2, 1, 16, 16)
    torch.testing.assert_close(big[..., ::4, ::4], tiles)
    torch.testing.assert_close(big[..., 3::4, 3::4], tiles)
    assert enlarge(tiles, 2).shape == tiles.shape  # never smaller


def test_frame_draws_a_border_on_the_marked_tiles_only():
    tiles = torch.full((3, 1, 8, 8), 0.5)
    framed = frame(tiles, torch.tensor([False, True, False]), colour=(1.0, 0.0, 0.0), width=2)
    assert framed.shape == (3, 3, 8, 8)
    assert torch.all(framed[[0, 2]] == 0.5)  # unmarked: the same gray, now as RGB
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1)
    for edge in (framed[1, :, 0, :], framed[1, :, 7, :], framed[1, :, :, 1], framed[1, :, :, 6]):
        assert torch.equal(edge, red.expand_as(edge))
    assert torch.all(framed[1, :, 2:6, 2:6] == 0.5)  # the inside is untouched


def test_principal_axes_find_the_directions_of_largest_spread_with_a_fixed_sign():
    g = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    spread = torch.tensor([5.0, 2.0, 0.5, 0.1], dtype=torch.float64)
    x = (torch.randn(20000, 4, generator=g, dtype=torch.float64) * spread) @ rotation.T + 3.0
    mean, axes, explained = principal_axes(x)
    torch.testing.assert_close(mean, torch.full((4,), 3.0, dtype=torch.float64), atol=0.1, rtol=0)
    for axis, truth in zip(axes, rotation.T[:2]):
        assert abs(float(axis @ truth)) > 0.999  # the true direction, up to sign
        assert axis[axis.abs().argmax()] > 0  # the sign convention
    expected = spread[:2] ** 2 / (spread**2).sum()
    torch.testing.assert_close(explained, expected, atol=0.01, rtol=0)
    _, flipped, _ = principal_axes(-x)  # mirrored data: same axes, same picture orientation
    torch.testing.assert_close(flipped, axes)


def test_principal_axes_of_one_dimensional_vectors():
    _, axes, explained = principal_axes(torch.randn(100, 1))
    assert axes.shape == (2, 1) and torch.equal(axes[1], torch.zeros(1))
    assert explained.tolist() == [1.0, 0.0]


def test_nearest_distance_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    targets, rows = torch.randn(5, 3, generator=g), torch.randn(300, 3, generator=g)
    brute = (targets[:, None] - rows[None]).norm(dim=-1).min(1).values.double()
    torch.testing.assert_close(nearest_distance(targets, rows), brute)


def test_projection_shapes_and_consistency_with_the_model(model, images):
    p = project(model, images, max_points=500, seed=0)
    assert p.codes.shape == (16, 2) and p.points.shape == (500, 2)
    assert p.point_codes.shape == p.point_index.shape == (500,)
    assert len(set(p.point_index.tolist())) == 500  # a sample without repeats
    # the nearest code of each sampled output is the code model.encode picks at that position
    encoded = model.encode(images.float() / 255).flatten()
    assert np.array_equal(p.point_codes, encoded[torch.from_numpy(p.point_index)].numpy())
    assert np.array_equal(p.usage, code_usage(encode_images(model, images), 16).numpy())
    assert p.usage.sum() == 40 * 7 * 7
    assert 1 >= p.explained[0] >= p.explained[1] >= 0


def test_projection_points_carry_the_explained_share_of_the_variance(model, images):
    p = project(model, images, max_points=10**6)  # every output
    vectors, _ = encoder_outputs(model, images)
    total = vectors.double().var(0, unbiased=False).sum()
    assert p.points.shape == (40 * 49, 2)
    np.testing.assert_allclose(p.points.mean(0), 0, atol=1e-4)  # centred on the outputs' mean
    np.testing.assert_allclose(p.points.var(0) / float(total), p.explained, rtol=1e-3)


def test_projection_is_deterministic_for_a_seed(model, images):
    a, b = project(model, images, max_points=300, seed=4), project(model, images, max_points=300, seed=4)
    for field in ("codes", "points", "point_codes", "point_index", "explained", "usage", "code_distance"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    other = project(model, images, max_points=300, seed=5)
    assert not np.array_equal(a.point_index, other.point_index)
    assert np.array_equal(a.codes, other.codes)  # the axes come from all outputs, not the sample


def test_a_code_far_from_the_data_is_dead_and_drawn_as_a_cross(model, images):
    far = 5
    with torch.no_grad():
        model.quantizer.embedding.weight[far] = 100.0
    p = project(model, images, max_points=200)
    assert p.dead[far] and p.usage[far] == 0
    assert np.array_equal(p.dead, p.usage == 0)
    assert p.code_distance[far] > 100 and p.code_distance[far] > 10 * np.median(p.code_distance[~p.dead])

    figure = projection_figure(p)
    traces = {trace.name: trace for trace in figure.data}
    crosses = traces["dead codes (never used)"]
    assert crosses.marker.symbol == "x"
    assert [int(row[0]) for row in crosses.customdata] == np.flatnonzero(p.dead).tolist()
    assert crosses.x[list(np.flatnonzero(p.dead)).index(far)] == p.codes[far, 0]
    live = traces["code vectors (size: usage)"]
    assert len(live.x) == int((~p.dead).sum())


def test_figure_sizes_codes_by_usage_and_colours_outputs_like_their_code(model, images):
    p = project(model, images, max_points=300)
    p.usage[:] = 0  # a usage chosen here: every code live, code 3 the busiest
    p.usage += np.arange(1, 17)[::-1] * (np.arange(16) != 3) + 1000 * (np.arange(16) == 3)
    figure = projection_figure(p)
    names = [trace.name for trace in figure.data]
    assert names == ["encoder outputs z_e", "code vectors (size: usage)"]  # no dead codes, no crosses
    outputs, codes = figure.data
    sizes = np.asarray(codes.marker.size)
    assert sizes.argmax() == 3 and sizes.min() > 0
    assert [int(row[1]) for row in codes.customdata] == p.usage.tolist()  # hover shows the usage
    colour_of_code = dict(zip(range(16), codes.marker.color))
    assert list(outputs.marker.color) == [colour_of_code[int(k)] for k in p.point_codes]
    assert outputs.marker.colorscale == codes.marker.colorscale and len(set(colour_of_code.values())) == 16
    assert "%" in figure.layout.xaxis.title.text
