"""The streaming sampler: the fast one draws exactly the naive one's codes, and reports
progress position by position."""

import pytest
import torch

from vqvae.config import PriorConfig
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.errors import VQVAEError
from vqvae.models.sampling import Sampling, sample, sample_naive


def random_prior(n_classes: int = 0) -> GatedPixelCNN:
    torch.manual_seed(0)
    config = PriorConfig(codebook_size=16, channels=8, head=8, n_blocks=4, first_kernel=5, kernel=3, n_classes=n_classes)
    return GatedPixelCNN(config).double().eval()


def final_codes(sampler, model, n, h, w, seed=1, temperature=1.0, labels=None, top_k=None, top_p=None):
    sampling = Sampling(temperature, top_k, top_p)
    progress = list(sampler(model, n, h, w, sampling, torch.Generator().manual_seed(seed), labels))
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


@pytest.mark.parametrize("top_k, top_p", [(3, None), (None, 0.5), (5, 0.8)])
def test_the_fast_sampler_matches_the_naive_one_under_top_k_and_top_p(top_k, top_p):
    model = random_prior()
    _, naive = final_codes(sample_naive, model, 3, 6, 6, top_k=top_k, top_p=top_p)
    _, fast = final_codes(sample, model, 3, 6, 6, top_k=top_k, top_p=top_p)
    assert torch.equal(naive, fast)


def test_top_k_and_top_p_keep_the_likeliest_codes_and_sum_to_one():
    logits = torch.log(torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15], [0.2, 0.2, 0.2, 0.2, 0.2]]))
    top2 = Sampling(top_k=2).probabilities(logits)
    assert top2[0].tolist() == pytest.approx([0, 0.4 / 0.7, 0, 0.3 / 0.7, 0])
    assert (top2[1] > 0).sum() == 2 and top2[1, :2].tolist() == pytest.approx([0.5, 0.5])  # ties: lowest ids
    nucleus = Sampling(top_p=0.75).probabilities(logits)  # 0.4 + 0.3 = 0.7 is short of 0.75: 0.15 joins
    assert nucleus[0].tolist() == pytest.approx([0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85])
    for sampling in (Sampling(), Sampling(0.5), Sampling(top_k=3), Sampling(top_p=0.3), Sampling(2.0, 4, 0.9)):
        assert sampling.probabilities(logits).sum(-1).tolist() == pytest.approx([1, 1])


def test_top_k_1_and_a_tiny_top_p_are_the_argmax():
    model = random_prior()
    greedy = [final_codes(sample, model, 2, 5, 5, seed=seed, top_k=1)[1] for seed in (1, 2)]
    nucleus = [final_codes(sample, model, 2, 5, 5, seed=seed, top_p=1e-9)[1] for seed in (1, 2)]
    assert torch.equal(greedy[0], greedy[1]) and torch.equal(greedy[0], nucleus[0]) and torch.equal(nucleus[0], nucleus[1])
    logits = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    for sampling in (Sampling(top_k=1), Sampling(top_p=1e-9)):
        assert torch.equal(sampling.probabilities(logits).argmax(-1), logits.argmax(-1))
        assert ((sampling.probabilities(logits) > 0).sum(-1) == 1).all()


@pytest.mark.parametrize("sampling, says", [(Sampling(top_k=0), "top-k must be at least 1"),
                                            (Sampling(top_p=0.0), "top-p must lie in (0, 1]"),
                                            (Sampling(top_p=1.5), "top-p must lie in (0, 1]"),
                                            (Sampling(temperature=0.0), "temperature must be positive")])
def test_bad_sampling_settings_are_one_line(sampling, says):
    with pytest.raises(VQVAEError) as info:
        sampling.check()
    assert says in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("side", [7, 16])
def test_in_float32_the_column_cached_sampler_draws_the_naive_codes(side):
    """The cache changes the work, not the draw, at the precision priors run in."""
    torch.manual_seed(0)
    config = PriorConfig(codebook_size=64, channels=32, head=32, n_blocks=5, n_classes=10)
    model = GatedPixelCNN(config).eval()  # float32
    labels = torch.tensor([0, 3, 7, 9])
    _, naive = final_codes(sample_naive, model, 4, side, side, labels=labels)
    _, fast = final_codes(sample, model, 4, side, side, labels=labels)
    assert torch.equal(naive, fast) and len(fast.unique()) > 10
