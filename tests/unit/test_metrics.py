"""Perplexity, PSNR, code usage and code bits on values whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from vqvae.models.metrics import code_bits, code_usage, perplexity, psnr


@pytest.mark.parametrize("k", [1, 2, 7, 512])
def test_perplexity_of_uniform_usage_is_k(k):
    assert perplexity(torch.full((k,), 5)).item() == pytest.approx(k, rel=1e-5)


def test_perplexity_of_one_code_is_one():
    counts = torch.zeros(128, dtype=torch.long)
    counts[17] = 1000
    assert perplexity(counts).item() == pytest.approx(1.0, abs=1e-6)


def test_perplexity_by_hand():
    # p = [1/4, 1/4, 1/2]: H = 2 * (1/4) ln 4 + (1/2) ln 2 = 1.5 ln 2, so exp(H) = 2 ** 1.5
    expected = math.exp(-(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5)))
    assert expected == pytest.approx(2 ** 1.5)
    assert perplexity(torch.tensor([1, 1, 2])).item() == pytest.approx(expected, rel=1e-6)


def test_perplexity_ignores_unused_codes():
    with_zeros = torch.tensor([0, 1, 0, 1, 2, 0, 0])
    assert perplexity(with_zeros).item() == pytest.approx(perplexity(torch.tensor([1, 1, 2])).item(), rel=1e-6)
    uniform_half = torch.tensor([3, 0, 3, 0, 3, 0, 3, 0])
    assert perplexity(uniform_half).item() == pytest.approx(4.0, rel=1e-6)
    assert math.isfinite(perplexity(torch.zeros(4, dtype=torch.long)).item())


def test_perplexity_accepts_float_counts():
    assert perplexity(torch.tensor([0.5, 0.5, 1.0])).item() == pytest.approx(2 ** 1.5, rel=1e-6)


def test_psnr():
    assert psnr(0.01) == pytest.approx(20.0)
    assert psnr(1.0) == pytest.approx(0.0)
    assert psnr(0.25, peak=2.0) == pytest.approx(10 * math.log10(16))
    assert psnr(0.0) == float("inf")


def test_code_usage_counts_every_position():
    idx = torch.tensor([[[0, 3], [3, 3]], [[1, 0], [3, 0]]])
    assert code_usage(idx, 5).tolist() == [3, 1, 0, 4, 0]


@pytest.mark.parametrize("h, w, k, expected", [(7, 7, 128, 343.0), (1, 1, 2, 1.0), (8, 4, 1000, 32 * 9.965784284662087),
                                                (3, 5, 1, 0.0)])
def test_code_bits_are_h_w_log2_k(h, w, k, expected):
    """An MNIST model's 7 x 7 grid of 128 codes takes 343 bits; one code out of 1 says nothing."""
    assert code_bits(h, w, k) == pytest.approx(expected)

