"""Step mode: one position at a time, the prior's distribution shown before each draw, the
user's own pick taken, and with no picks exactly the fast sampler's codes."""

import pytest
import torch

from vqvae.data.checkpoints import load_prior, load_vqvae
from vqvae.errors import VQVAEError
from vqvae.models.sampling import Sampling, stream_samples
from vqvae.models.stepping import StepSampler
from vqvae.data.hub import BUNDLED_DIR
from vqvae.training.prior_trainer import vqvae_of_prior


@pytest.fixture(scope="module")
def bundled():
    folder = BUNDLED_DIR / "mnist-ema-prior"
    return load_prior(folder), load_vqvae(vqvae_of_prior(folder))


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(0.8, top_k=20), Sampling(top_p=0.9)])
def test_without_picks_step_mode_draws_the_fast_samplers_codes(bundled, sampling):
    prior, vqvae = bundled
    stepper = StepSampler(prior, vqvae, sampling, seed=3, label=7)
    while stepper.done < stepper.total:
        assert stepper.distribution().sum().item() == pytest.approx(1.0)  # each step's distribution
        stepper.step()
    fast = list(stream_samples(prior, vqvae, 1, sampling.temperature, 3, 7, sampling.top_k, sampling.top_p))[-1]
    assert torch.equal(stepper.codes, fast.codes)
    assert not stepper.entropy.isnan().any() and (stepper.entropy >= 0).all()
    assert torch.allclose(stepper.decoded(), vqvae.decode(fast.codes).clamp(0, 1))


def test_a_pick_is_kept_and_the_next_steps_condition_on_it(bundled):
    prior, vqvae = bundled
    stepper, untouched = StepSampler(prior, vqvae, seed=1, label=3), StepSampler(prior, vqvae, seed=1, label=3)
    stepper.run(10)
    untouched.run(10)
    codes, probs = stepper.top(5)
    assert (probs[:-1] >= probs[1:]).all() and probs.sum() <= 1 + 1e-9
    choice = int(codes[-1])  # the fifth likeliest, not what the draw would take
    assert stepper.step(choice) == choice and stepper.picked[divmod(10, stepper.side)]
    untouched.step()
    assert stepper.codes[0, 1, 3] == choice and torch.equal(stepper.codes[0, :1], untouched.codes[0, :1])
    assert not torch.allclose(stepper.distribution(), untouched.distribution())  # conditioned on the pick


def test_row_and_end_buttons_fill_what_they_say(bundled):
    prior, vqvae = bundled
    stepper = StepSampler(prior, vqvae, seed=0, label=0)
    stepper.run(3)
    stepper.to_row_end()
    assert stepper.done == stepper.side and stepper.position == (1, 0)
    stepper.run(10_000)
    assert stepper.done == stepper.total
    with pytest.raises(VQVAEError, match="every position is drawn"):
        stepper.step()


def test_a_code_the_filters_removed_cannot_be_picked(bundled):
    prior, vqvae = bundled
    stepper = StepSampler(prior, vqvae, Sampling(top_k=1), seed=0, label=0)
    only = int(stepper.distribution().argmax())
    with pytest.raises(VQVAEError, match="cannot be drawn here"):
        stepper.step((only + 1) % prior.config.codebook_size)
    with pytest.raises(VQVAEError):
        stepper.step(-1)
    assert stepper.done == 0 and stepper.step(only) == only
