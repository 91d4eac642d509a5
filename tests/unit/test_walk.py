"""The walk in code space: its ends are the two pictures' own codes, every step is a
decodable code grid, and the change counts add up."""

import pytest
import torch

from vqvae.store.load import load_vqvae
from vqvae.data.datasets import bundled_mnist, bundled_pokemon
from vqvae.store.hub import BUNDLED_DIR
from vqvae.errors import VQVAEError
from vqvae.models.walk import walk


@pytest.mark.parametrize("name, data", [("mnist-ema", bundled_mnist), ("pokemon-ema", bundled_pokemon)])
def test_the_walks_ends_are_the_two_pictures_own_encodings(name, data):
    model = load_vqvae(BUNDLED_DIR / name)
    images = data().val[:2].float() / 255
    result = walk(model, images[0], images[1], steps=10)
    own = model.encode(images)
    assert torch.equal(result.codes[0], own[0]) and torch.equal(result.codes[-1], own[1])
    assert torch.equal(result.images, model.decode(result.codes))  # each step is its codes decoded
    assert torch.allclose(result.blend[0], images[0]) and torch.allclose(result.blend[-1], images[1])
    assert len(result.changed) == 9 and all(n >= 0 for n in result.changed)
    assert result.changed == [int((a != b).sum()) for a, b in zip(result.codes[1:], result.codes[:-1])]
    assert sum(result.changed) >= int((own[0] != own[1]).sum())  # every differing code changes at least once


def test_bad_walks_are_one_line():
    model = load_vqvae(BUNDLED_DIR / "mnist-ema")
    image = bundled_mnist().val[0].float() / 255
    with pytest.raises(VQVAEError, match="2 to 64 steps"):
        walk(model, image, image, steps=1)
    with pytest.raises(VQVAEError, match="differ in size"):
        walk(model, image, torch.zeros(1, 32, 32), steps=3)
