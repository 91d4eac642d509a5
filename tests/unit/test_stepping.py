"""Step mode: one position at a time, the prior's distribution shown before each draw, the
user's own pick taken, and with no picks exactly the fast sampler's codes."""

import pytest
import torch

from conftest import tiny_model_config
from vqvae.config import PriorConfig
from vqvae.store.load import load_prior, load_vqvae
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import Sampling, sample, stream_samples
from vqvae.models.stepping import StepSampler
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.provenance import vqvae_of_prior


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
    codes, probs = stepper.likeliest(5)
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


def tiny_pair(**model_settings):
    """A random tiny VQ-VAE (K = 16, 7 x 7 codes of 4 x 4 pixels) and a random prior over its codes."""
    torch.manual_seed(0)
    vqvae = VQVAE(tiny_model_config(**model_settings)).eval()
    prior = GatedPixelCNN(PriorConfig(codebook_size=16, channels=8, head=8, n_blocks=2, first_kernel=3)).eval()
    return prior, vqvae


def test_a_completion_runs_on_the_grid_of_a_full_size_picture():
    prior, vqvae = tiny_pair()
    keep = torch.randint(0, 16, (5, 9), generator=torch.Generator().manual_seed(1))  # not the model's 7 x 7
    stepper = StepSampler(prior, vqvae, seed=0, keep=keep, kept=12)
    assert (stepper.height, stepper.width, stepper.total, stepper.done) == (5, 9, 45, 12)
    assert stepper.position == (1, 3) and stepper.side == 9
    stepper.to_row_end()
    assert stepper.done == 18 and stepper.position == (2, 0)
    stepper.run(10_000)
    assert stepper.done == 45 and stepper.codes.shape == (1, 5, 9)
    assert torch.equal(stepper.codes.view(-1)[:12], keep.view(-1)[:12])  # the kept codes, exactly
    assert stepper.entropy.shape == (5, 9) and stepper.entropy.view(-1)[:12].isnan().all()
    assert not stepper.entropy.view(-1)[12:].isnan().any() and stepper.picked.shape == (5, 9)
    assert stepper.decoded().shape == (1, 1, 20, 36)


def test_on_a_wide_grid_without_picks_it_draws_the_fast_samplers_codes():
    prior, vqvae = tiny_pair()
    stepper = StepSampler(prior, vqvae, seed=2, keep=torch.zeros(5, 9, dtype=torch.long), kept=0)
    stepper.run(10_000)
    fast = list(sample(prior, 1, 5, 9, Sampling(), torch.Generator().manual_seed(2), graphs=False))[-1]
    assert torch.equal(stepper.codes, fast.codes)


def test_a_completion_refuses_what_it_cannot_keep():
    prior, vqvae = tiny_pair()
    with pytest.raises(VQVAEError, match="0..45 positions of a 5 x 9 grid"):
        StepSampler(prior, vqvae, keep=torch.zeros(5, 9, dtype=torch.long), kept=46)
    with pytest.raises(VQVAEError, match="codes kept must lie in 0..15"):
        StepSampler(prior, vqvae, keep=torch.full((5, 9), 16), kept=3)
    with pytest.raises(VQVAEError, match=r"\[h, w\] grid"):
        StepSampler(prior, vqvae, keep=torch.zeros(1, 5, 9, dtype=torch.long), kept=3)


@pytest.mark.parametrize("settings, fill", [({}, 0.5), ({"arch": "patch", "in_channels": 3}, (1.0, 0.0, 0.25))])
def test_decoded_with_blanks_leaves_the_positions_still_to_draw_blank(settings, fill):
    prior, vqvae = tiny_pair(**settings)
    keep = torch.randint(0, 16, (5, 9), generator=torch.Generator().manual_seed(1))
    stepper = StepSampler(prior, vqvae, seed=0, keep=keep, kept=12)
    stepper.run(3)  # 15 drawn: rows 0 and the first 6 cells of row 1
    plain, blank = stepper.decoded(), stepper.decoded(blank=True, fill=fill)
    assert blank.shape == plain.shape == (1, vqvae.config.in_channels, 20, 36)
    f = vqvae.config.downsample
    expected = torch.as_tensor(fill).reshape(-1, 1, 1).expand(vqvae.config.in_channels, f, f)
    for position in range(45):
        i, j = divmod(position, 9)
        cell = (0, slice(None), slice(i * f, (i + 1) * f), slice(j * f, (j + 1) * f))
        # drawn: the plain decode's pixels there; still to draw: exactly the fill
        assert torch.equal(blank[cell], plain[cell] if position < 15 else expected)
    stepper.run(10_000)
    assert torch.equal(stepper.decoded(blank=True), stepper.decoded())  # nothing left blank at the end
