"""Editing codes by hand: one cell changes and nothing else, the picture is the decode of
the edited grid, undo and reset restore; a completion keeps the prefix it was given."""

import pytest
import torch

from vqvae.store.load import load_prior, load_vqvae
from vqvae.data.datasets import bundled_mnist
from vqvae.store.hub import BUNDLED_DIR
from vqvae.errors import VQVAEError
from vqvae.models.editing import CodeEdits, outline_cells
from vqvae.models.stepping import StepSampler


@pytest.fixture(scope="module")
def model_and_codes():
    model = load_vqvae(BUNDLED_DIR / "mnist-ema")
    return model, model.encode(bundled_mnist().val[:1].float() / 255)[0]


def test_editing_one_cell_changes_that_code_and_nothing_else(model_and_codes):
    model, codes = model_and_codes
    edits = CodeEdits(codes, model.config.codebook_size)
    new = (int(codes[3, 4]) + 1) % model.config.codebook_size
    edits.set(3, 4, new)
    assert edits.codes[3, 4] == new and edits.changed.sum() == 1 and edits.changed[3, 4]
    assert torch.equal(edits.codes[edits.changed == 0], codes[edits.changed == 0])
    assert torch.equal(model.decode(edits.codes[None]), model.decode(edits.codes[None]))
    assert not torch.equal(model.decode(edits.codes[None]), model.decode(codes[None]))


def test_undo_and_reset_restore_the_grid(model_and_codes):
    model, codes = model_and_codes
    edits = CodeEdits(codes, model.config.codebook_size)
    edits.set(0, 0, 5)
    edits.set(0, 0, 6)
    edits.set(6, 6, 7)
    edits.undo()
    assert edits.codes[6, 6] == codes[6, 6] and edits.codes[0, 0] == 6
    edits.undo()
    assert edits.codes[0, 0] == 5
    edits.reset()
    assert torch.equal(edits.codes, codes) and not edits.history and not edits.changed.any()
    edits.undo()  # nothing to undo: nothing happens
    assert torch.equal(edits.codes, codes)


def test_bad_edits_are_one_line(model_and_codes):
    model, codes = model_and_codes
    edits = CodeEdits(codes, model.config.codebook_size)
    with pytest.raises(VQVAEError, match="not in the codebook"):
        edits.set(0, 0, model.config.codebook_size)
    with pytest.raises(VQVAEError, match="outside the 7 x 7 code grid"):
        edits.set(7, 0, 1)
    assert not edits.history


def test_changed_cells_are_outlined_and_the_rest_untouched():
    images = torch.full((1, 1, 8, 8), 0.5)
    cells = torch.zeros(2, 2, dtype=torch.bool)
    cells[1, 0] = True
    out = outline_cells(images, cells, 4)
    assert out.shape == (1, 3, 8, 8)
    assert torch.equal(out[0, :, 4, 0], torch.tensor([0.84, 0.15, 0.16]))  # the border of cell (1, 0)
    assert (out[0, :, 5:7, 1:3] == 0.5).all() and (out[0, :, :4] == 0.5).all()  # its inside, the other cells


def test_a_completion_keeps_the_prefix_and_draws_the_rest(model_and_codes):
    model, codes = model_and_codes
    folder = BUNDLED_DIR / "mnist-ema-prior"
    prior = load_prior(folder)
    stepper = StepSampler(prior, load_vqvae(folder / "vqvae"), seed=2, label=0, keep=codes, kept=20)
    assert stepper.done == 20 and stepper.position == (2, 6)
    stepper.run(stepper.total)
    assert torch.equal(stepper.codes[0].reshape(-1)[:20], codes.reshape(-1)[:20])
    assert stepper.entropy.reshape(-1)[:20].isnan().all() and not stepper.entropy.reshape(-1)[20:].isnan().any()
    edits = CodeEdits(codes, model.config.codebook_size)
    edits.replace(stepper.codes[0])
    assert torch.equal(edits.codes, stepper.codes[0])
    edits.undo()  # the whole completion in one step
    assert torch.equal(edits.codes, codes)
    with pytest.raises(VQVAEError, match="keeps 0..49 positions"):
        StepSampler(prior, load_vqvae(folder / "vqvae"), keep=codes, kept=50)


def test_changed_cells_stay_visible_on_small_cells_and_are_outlined_in_proportion_on_large_ones():
    from vqvae.models.editing import mark_cells

    cells = torch.zeros(2, 2, dtype=torch.bool)
    cells[0, 1] = True
    small = mark_cells(torch.zeros(1, 1, 8, 8), cells, 4)  # a 4-pixel cell: the whole cell tinted
    assert torch.allclose(small[0, :, 0:4, 4:8], torch.tensor([0.42, 0.075, 0.08]).view(3, 1, 1))
    assert (small[0, :, :, :4] == 0).all() and (small[0, :, 4:] == 0).all()
    large = mark_cells(torch.zeros(1, 1, 32, 32), cells, 16)  # outlined, 2 pixels wide (an eighth)
    assert torch.equal(large[0, :, 1, 20], torch.tensor([0.84, 0.15, 0.16])) and (large[0, :, 2, 20] == 0).all()
    assert (large[0, :, 16:] == 0).all()


def test_a_candidate_is_shown_in_place_among_its_neighbours(model_and_codes):
    from vqvae.models.editing import candidates_in_place

    model, codes = model_and_codes
    f = model.config.downsample
    tiles = candidates_in_place(model, codes, 0, 6, torch.tensor([1, 2, 3]))  # a corner: the window moves inwards
    assert tiles.shape == (3, model.config.in_channels, 3 * f, 3 * f)
    changed = codes.clone()
    changed[0, 6] = 2
    whole = model.decode(changed[None])
    assert torch.allclose(tiles[1], whole[0, :, 0 : 3 * f, 4 * f : 7 * f].cpu(), atol=1e-4)  # batched: float noise
