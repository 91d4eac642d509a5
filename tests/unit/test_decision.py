"""The quantizer's decision at one position, as the pages show it: the distances agree with
the model's own nearest-code choice for every kind of codebook, the loss terms are the
formulas', an EMA update moves the code toward the vector, and the straight-through
estimator passes the decoder's gradient to the encoder unchanged."""

from __future__ import annotations

import pytest
import torch

from vqvae.config import ModelConfig
from vqvae.data.datasets import bundled_data
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.decision import decide, straight_through
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.load import load_vqvae

MODELS = ["mnist-ema", "mnist-compare-plain", "mnist-compare-fsq", "mnist-compare-ema-rotation-trick", "mnist-vq2"]


@pytest.fixture(scope="module")
def image():
    return bundled_data("mnist").val[:1].float() / 255


@pytest.mark.parametrize("name", MODELS)
def test_the_distances_pick_the_models_own_code_at_every_position(name, image):
    model = load_vqvae(BUNDLED_DIR / name)
    codes = model.encode_levels(image)[1] if model.config.levels == 2 else model.encode(image)
    for row in range(7):
        for column in range(7):
            d = decide(model, image, row, column)
            assert d.chosen == int(codes[0, row, column]) == int(d.distances.argmin())
            assert d.order()[0] == d.chosen and len(d.distances) == model.config.codebook_size


def test_the_top_level_of_two_is_decided_on_its_own_grid(image):
    model = load_vqvae(BUNDLED_DIR / "mnist-vq2")
    top = model.encode_levels(image)[0]
    d = decide(model, image, 3, 1, level="top")
    assert d.chosen == int(top[0, 3, 1]) and len(d.distances) == model.config.top_codes


def test_the_loss_terms_are_the_formulas(image):
    plain = decide(load_vqvae(BUNDLED_DIR / "mnist-compare-plain"), image, 2, 5)
    squared = float((plain.z - plain.code).pow(2).sum())
    assert plain.commitment_term == pytest.approx(0.25 * squared / len(plain.z))
    assert plain.codebook_term == pytest.approx(squared / len(plain.z)) and plain.ema_moved is None
    ema = decide(load_vqvae(BUNDLED_DIR / "mnist-ema"), image, 2, 5)
    assert ema.codebook_term is None  # no loss trains an EMA codebook
    assert (ema.ema_moved - ema.z).norm() < (ema.code - ema.z).norm()  # one update pulls the code toward z
    fsq = decide(load_vqvae(BUNDLED_DIR / "mnist-compare-fsq"), image, 2, 5)
    assert fsq.fsq["rounded"].tolist() == fsq.fsq["bounded"].round().tolist() and fsq.codebook_term is None


def test_the_straight_through_estimator_copies_the_gradient(image):
    grads = straight_through(load_vqvae(BUNDLED_DIR / "mnist-ema"), image, 3, 3)
    assert torch.equal(grads["at_z_q"], grads["at_z_e"]) and grads["at_z_q"].abs().sum() > 0
    assert grads["commitment"].abs().sum() > 0  # the commitment term's own pull at z_e
    rotated = straight_through(load_vqvae(BUNDLED_DIR / "mnist-compare-ema-rotation-trick"), image, 3, 3)
    assert not torch.allclose(rotated["at_z_q"], rotated["at_z_e"])  # the rotation trick turns it


def test_a_cell_off_the_grid_is_refused(image):
    with pytest.raises(VQVAEError, match="outside the 7 x 7 code grid"):
        decide(load_vqvae(BUNDLED_DIR / "mnist-ema"), image, 7, 0)


@pytest.mark.parametrize("settings", [dict(quantizer="lfq"), dict(quantizer="bsq"), dict(quantizer="simvq"),
                                      dict(quantizer="plain", residual_depth=2)], ids=["lfq", "bsq", "simvq", "residual"])
def test_each_family_decides_as_its_forward_does(settings, image):
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(hidden=16, res_hidden=8, codebook_size=16, code_dim=4, **settings)).eval()
    d = decide(model, image, 2, 4)
    assert d.chosen == int(model.encode(image)[0, 2, 4])
    if d.bits is not None:  # the signs are the bits, and the chosen corner is the nearest
        assert d.chosen == sum(bit << i for i, bit in enumerate(d.bits)) == int(d.distances.argmin())
    if d.stages is not None:  # the stage codes are the digits; the losses weigh each stage's own residual
        assert d.chosen == d.stages[0]["code"] + 4 * d.stages[1]["code"]
        assert d.squared_error == pytest.approx(d.stages[-1]["left after"] ** 2 + d.stages[0]["left after"] ** 2)
    learnt = settings["quantizer"] in ("simvq", "plain")
    assert (d.codebook_term is not None) == learnt  # SimVQ's and plain stages' codes learn by their loss
