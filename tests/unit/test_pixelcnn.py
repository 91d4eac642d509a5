"""The Gated PixelCNN prior: strictly causal in train and eval mode, and class-aware."""

import pytest
import torch

from vqvae import VQVAEError
from vqvae.config import PriorConfig
from vqvae.models.pixelcnn import GatedPixelCNN


def tiny_prior(**overrides) -> GatedPixelCNN:
    settings = dict(codebook_size=11, channels=6, head=5, n_blocks=4, first_kernel=5, kernel=3)
    settings.update(overrides)
    torch.manual_seed(0)
    return GatedPixelCNN(PriorConfig(**settings)).double()


def dependence(model: GatedPixelCNN, h: int, w: int, labels=None) -> torch.Tensor:
    """dep[p, q] = True when the logits at position p have a gradient w.r.t. input position q
    (positions in row-major order)."""
    x = torch.randn(1, model.config.channels, h, w, dtype=torch.float64, requires_grad=True)
    logits = model.logits_from_embedding(x, labels)
    dep = torch.zeros(h * w, h * w, dtype=torch.bool)
    for p in range(h * w):
        (grad,) = torch.autograd.grad(logits[0, :, p // w, p % w].sum(), x, retain_graph=True)
        dep[p] = grad[0].abs().sum(0).flatten() > 0
    return dep


@pytest.mark.parametrize("h,w", [(7, 7), (8, 8), (5, 9)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_logits_never_see_the_current_or_a_later_position(h, w, mode):
    model = tiny_prior()
    model.train(mode == "train")
    dep = dependence(model, h, w)
    future_or_self = torch.ones(h * w, h * w, dtype=torch.bool).triu()  # q >= p
    assert not (dep & future_or_self).any(), "a logit depends on its own or a later position"
    # ...and the model does use its context: the left neighbour and the one above.
    for p in range(h * w):
        i, j = divmod(p, w)
        if j > 0:
            assert dep[p, p - 1]
        if i > 0:
            assert dep[p, p - w]
            assert dep[p, p - w + 1] if j + 1 < w else True  # above-right: no blind spot there
    assert dep.sum(1)[0] == 0  # the first position sees nothing


def test_causality_with_a_single_mask_a_block_and_class_conditioning():
    model = tiny_prior(n_blocks=1, n_classes=3)
    dep = dependence(model, 6, 5, labels=torch.tensor([2]))
    assert not (dep & torch.ones(30, 30, dtype=torch.bool).triu()).any()


def test_logits_change_with_the_class_label():
    model = tiny_prior(n_classes=10)
    codes = torch.randint(0, 11, (2, 7, 7))
    a = model(codes, torch.tensor([3, 3]))
    b = model(codes, torch.tensor([7, 7]))
    assert not torch.allclose(a, b)


def test_labels_required_exactly_when_conditional():
    with pytest.raises(ValueError):
        tiny_prior(n_classes=10)(torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError):
        tiny_prior()(torch.zeros(1, 4, 4, dtype=torch.long), torch.tensor([1]))


def test_input_is_an_embedding_of_the_code_index():
    model = tiny_prior()
    assert isinstance(model.embedding, torch.nn.Embedding)
    assert model.embedding.num_embeddings == 11
    codes = torch.randint(0, 11, (3, 5, 6))
    assert model(codes).shape == (3, 11, 5, 6)


@pytest.mark.parametrize("bad", [dict(codebook_size=1), dict(kernel=4), dict(n_blocks=0), dict(n_classes=-1)])
def test_bad_prior_settings_are_refused(bad):
    with pytest.raises(VQVAEError):
        PriorConfig(**bad).validate()


def test_prior_checkpoint_round_trip(tmp_path):
    model = tiny_prior(n_classes=4).float()
    model.save_pretrained(tmp_path / "prior")
    loaded = GatedPixelCNN.from_pretrained(str(tmp_path / "prior"))
    codes, labels = torch.randint(0, 11, (2, 5, 5)), torch.tensor([0, 3])
    assert torch.equal(model.eval()(codes, labels), loaded(codes, labels))
