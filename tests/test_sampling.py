"""The streaming sampler: the fast one draws exactly the naive one's codes, and reports
progress position by position."""

import pytest
import torch

from vqvae.config import PriorConfig
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import sample, sample_naive


def random_prior(n_classes: int = 0) -> GatedPixelCNN:
    torch.manual_seed(0)
    config = PriorConfig(codebook_size=16, channels=8, head=8, n_blocks=4, first_kernel=5, kernel=3, n_classes=n_classes)
    return GatedPixelCNN(config).double().eval()


def final_codes(sampler, model, n, h, w, seed=1, temperature=1.0, labels=None):
    progress = list(sampler(model, n, h, w, temperature, torch.Generator().manual_seed(seed), labels))
    return progress, progress[-1].codes.clone()


@pytest.mark.parametrize("h,w", [(7, 7), (16, 16), (5, 9)])
def test_fast_sampler_draws_the_naive_samplers_codes(h, w):
    model = random_prior()
    _, naive = final_codes(sample_naive, model, 3, h, w)
    _, fast = final_codes(sample, model, 3, h, w)
    assert torch.equal(naive, fast)
    assert len(naive.unique()) > 1  # a real draw, not a constant grid


def test_same_codes_with_class_labels_and_temperature():
    model = random_prior(n_classes=10)
    labels = torch.tensor([0, 4, 9])
    _, naive = final_codes(sample_naive, model, 3, 7, 7, temperature=0.7, labels=labels)
    _, fast = final_codes(sample, model, 3, 7, 7, temperature=0.7, labels=labels)
    assert torch.equal(naive, fast)


def test_seed_decides_the_codes():
    model = random_prior()
    _, a = final_codes(sample, model, 2, 7, 7, seed=1)
    _, b = final_codes(sample, model, 2, 7, 7, seed=1)
    _, c = final_codes(sample, model, 2, 7, 7, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_progress_counts_every_position_in_order():
    model = random_prior()
    progress, codes = final_codes(sample, model, 2, 4, 5)
    assert [p.done for p in progress] == list(range(1, 21))
    assert all(p.total == 20 for p in progress)
    assert codes.shape == (2, 4, 5) and codes.dtype == torch.long
