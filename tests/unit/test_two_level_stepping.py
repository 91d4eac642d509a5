"""Step mode and completion on two levels: the top grid, then the bottom one given it, one
position at a time; with no picks the fast sampler's codes; a completion keeps what it
should of both grids."""

import pytest
import torch

from test_two_levels import tiny_model, tiny_prior
from vqvae import VQVAEError
from vqvae.models.sampling import Sampling, stream_samples
from vqvae.models.stepping import StepSampler


@pytest.fixture(scope="module")
def pair():
    return tiny_prior(n_classes=3).eval(), tiny_model().eval()


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(0.8, top_k=5)])
def test_without_picks_both_grids_are_the_fast_samplers(pair, sampling):
    prior, model = pair
    stepper = StepSampler(prior, model, sampling, seed=4, label=2)
    assert stepper.total == 16 + 49 and stepper.level == "top" and stepper.grid.codebook_size == 8
    levels = []
    while stepper.done < stepper.total:
        levels.append(stepper.level)
        stepper.step()
    assert levels == ["top"] * 16 + ["bottom"] * 49
    fast = list(stream_samples(prior, model, 1, sampling.temperature, 4, 2, sampling.top_k))[-1]
    assert torch.equal(stepper.top, fast.top) and torch.equal(stepper.codes, fast.codes)
    assert not stepper.grids[0].entropy.isnan().any() and not stepper.entropy.isnan().any()
    assert torch.equal(stepper.decoded(), model.decode_levels(fast.top, fast.codes))


def test_while_the_top_fills_the_picture_is_the_top_alone_with_its_cells_blank(pair):
    prior, model = pair
    stepper = StepSampler(prior, model, seed=0, label=0)
    stepper.run(5)  # the first row of 4 top codes and one more
    assert stepper.position == (1, 1) and stepper.side == 4
    plain, blank = stepper.decoded(), stepper.decoded(blank=True, fill=0.25)
    assert torch.equal(plain, model.decode_level_alone(stepper.top, stepper.codes, "top"))
    cell = 2 * model.config.downsample  # a top code covers 2 x 2 bottom cells
    assert torch.equal(blank[..., :cell, :], plain[..., :cell, :])  # the drawn first row
    assert (blank[..., cell:2 * cell, 2 * cell:] == 0.25).all() and (blank[..., 2 * cell:, :] == 0.25).all()
    tiles = stepper.in_place(torch.tensor([0, 7]))  # candidates for the next top code, in place
    assert tiles.shape == (2, 1, 3 * cell, 3 * cell) and not torch.equal(tiles[0], tiles[1])
    stepper.run(16)  # into the bottom grid: its candidates are bottom cells
    assert stepper.level == "bottom" and stepper.in_place(torch.tensor([1, 2])).shape == (2, 1, 12, 12)


def test_a_completion_from_a_bottom_cell_keeps_the_top_and_the_cells_before(pair):
    prior, model = pair
    top, bottom = torch.randint(0, 8, (4, 4)), torch.randint(0, 32, (7, 7))
    stepper = StepSampler.completing(prior, model, {"top": top, "bottom": bottom}, "bottom", 1, 3, seed=1, label=1)
    assert stepper.level == "bottom" and stepper.position == (1, 3)
    stepper.run(10_000)
    assert torch.equal(stepper.top[0], top) and torch.equal(stepper.codes[0].view(-1)[:10], bottom.view(-1)[:10])
    assert stepper.grids[0].entropy.isnan().all()  # nothing of the top was drawn


def test_a_completion_from_a_top_cell_redraws_the_rest_of_both(pair):
    prior, model = pair
    top, bottom = torch.randint(0, 8, (4, 4)), torch.randint(0, 32, (7, 7))
    stepper = StepSampler.completing(prior, model, {"top": top, "bottom": bottom}, "top", 1, 2, seed=1, label=1)
    assert stepper.level == "top" and stepper.position == (1, 2)
    stepper.run(10_000)
    assert torch.equal(stepper.top[0].view(-1)[:6], top.view(-1)[:6])
    assert not stepper.grids[0].entropy.view(-1)[6:].isnan().any() and not stepper.entropy.isnan().any()


@pytest.mark.parametrize("changes, message", [
    (dict(keep_top=None, kept=3), "keeps a top grid of 4 x 4"),
    (dict(keep_top=torch.zeros(3, 4, dtype=torch.long), kept=3), "keeps a top grid of 4 x 4"),
    (dict(keep_top=torch.full((4, 4), 8), kept=3), "top codes kept must lie in 0..7"),
    (dict(keep_top=torch.zeros(4, 4, dtype=torch.long), kept=66), "keeps 0..65 positions"),
])
def test_bad_completions_are_one_line(pair, changes, message):
    prior, model = pair
    with pytest.raises(VQVAEError, match=message):
        StepSampler(prior, model, keep=torch.zeros(7, 7, dtype=torch.long), **changes)
