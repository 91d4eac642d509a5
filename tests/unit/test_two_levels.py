"""Two levels of codes (VQ-VAE-2): the model's grids and what each level carries, the bottom
prior causal given the top, both samplers drawing the same codes, and the round trip to disk."""

import pytest
import torch

from vqvae import VQVAEError
from vqvae.config import ModelConfig, PriorConfig
from vqvae.models.sampling import Sampling, decode_progress, sample, sample_naive, stream_samples
from vqvae.models.two_level import TwoLevelVQVAE, build_vqvae
from vqvae.models.two_level_prior import TwoLevelPrior, build_prior
from vqvae.store.load import load_prior, load_vqvae
from vqvae.training.evaluate import evaluate, reconstruct
from vqvae.training.vqvae_trainer import Trainer

# The bundled models' shapes at a tiny width: MNIST 28 px (bottom 7 x 7, top 4 x 4) and
# Pokémon 64 px in colour (bottom 16 x 16, top 8 x 8).
SHAPES = {"mnist": dict(in_channels=1, image_size=28), "pokemon": dict(in_channels=3, image_size=64)}


def tiny_model(data: str = "mnist", **changes) -> TwoLevelVQVAE:
    torch.manual_seed(0)
    settings = dict(SHAPES[data], levels=2, hidden=16, res_hidden=8, codebook_size=32, top_codebook_size=8, code_dim=4)
    settings.update(changes)
    return build_vqvae(ModelConfig(**settings))


def tiny_prior(**changes) -> TwoLevelPrior:
    torch.manual_seed(0)
    settings = dict(levels=2, codebook_size=32, top_codebook_size=8, channels=8, head=8, n_blocks=3, first_kernel=5)
    settings.update(changes)
    return build_prior(PriorConfig(**settings))


@pytest.mark.parametrize("data,bottom,top", [("mnist", 7, 4), ("pokemon", 16, 8)])
def test_two_grids_and_a_training_step(data, bottom, top):
    model = tiny_model(data)
    c = model.config
    images = torch.rand(4, c.in_channels, c.image_size, c.image_size)
    out = model(images)
    assert out.reconstruction.shape == images.shape
    assert out.indices.shape == (4, bottom, bottom) and out.top.indices.shape == (4, top, top)
    assert (c.grid_size, c.top_grid_size) == (bottom, top)
    assert c.code_bits == bottom * bottom * 5 + top * top * 3  # K 32 and 8
    trainer = Trainer(model, 1e-3, torch.device("cpu"))
    before = [p.detach().clone() for p in model.top_encoder.parameters()]
    stats = trainer.train_step(images)
    assert stats["loss"] > 0
    # the top level learns through the reconstruction: its encoder moved
    assert any(not torch.equal(a, b) for a, b in zip(before, model.top_encoder.parameters()))


def test_the_top_codes_condition_the_bottom_ones():
    model = tiny_model().eval()
    images = torch.rand(2, 1, 28, 28)
    top, bottom = model.encode_levels(images)
    picture = model.decode_levels(top, bottom)
    assert picture.shape == images.shape and 0 <= picture.min() and picture.max() <= 1
    other_top = (top + 1) % model.config.top_codes
    assert not torch.equal(model.decode_levels(other_top, bottom), picture)  # the decoder sees the top
    # what each level carries alone differs from the whole and from the other level alone
    top_alone = model.decode_level_alone(top, bottom, "top")
    bottom_alone = model.decode_level_alone(top, bottom, "bottom")
    assert not torch.equal(top_alone, picture) and not torch.equal(top_alone, bottom_alone)
    # the top alone does not depend on the bottom codes at all
    assert torch.equal(top_alone, model.decode_level_alone(top, torch.zeros_like(bottom), "top"))


def test_encode_and_decode_of_one_grid_are_refused_in_words():
    model = tiny_model()
    with pytest.raises(VQVAEError, match="two grids"):
        model.encode(torch.rand(1, 1, 28, 28))
    with pytest.raises(VQVAEError, match="top code indices"):
        model.decode_levels(torch.full((1, 4, 4), 8), torch.zeros(1, 7, 7, dtype=torch.long))
    with pytest.raises(VQVAEError, match="does not fit"):
        model.decode_levels(torch.zeros(1, 3, 3, dtype=torch.long), torch.zeros(1, 7, 7, dtype=torch.long))


def test_full_size_pictures_of_any_shape():
    model = tiny_model("pokemon").eval()
    picture = (torch.rand(1, 3, 36, 44) * 255).to(torch.uint8)  # bottom 9 x 11, top 5 x 6
    r = reconstruct(model, picture)
    assert r.codes.shape == (1, 9, 11) and r.top_codes.shape == (1, 5, 6)
    assert r.reconstruction.shape == (1, 3, 36, 44)
    assert r.code_bits == pytest.approx(99 * 5 + 30 * 3)


def test_evaluate_reports_both_levels():
    model = tiny_model()
    metrics = evaluate(model, (torch.rand(8, 1, 28, 28) * 255).to(torch.uint8))
    assert 1 <= metrics["top_codes_used"] <= 8 and metrics["top_perplexity"] >= 1


def test_bad_two_level_settings_are_one_line():
    with pytest.raises(VQVAEError, match="--arch conv"):
        ModelConfig(levels=2, arch="patch").validate()
    with pytest.raises(VQVAEError, match="--levels 2"):
        ModelConfig(top_codebook_size=8).validate()


def dependence(prior, top: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """dep[p, q]: the bottom logits at position p have a gradient w.r.t. input position q."""
    x = torch.randn(1, prior.config.channels, h, w, dtype=torch.float64, requires_grad=True)
    logits = prior.logits_from_embedding(x, None, top)
    dep = torch.zeros(h * w, h * w, dtype=torch.bool)
    for p in range(h * w):
        (grad,) = torch.autograd.grad(logits[0, :, p // w, p % w].sum(), x, retain_graph=True)
        dep[p] = grad[0].abs().sum(0).flatten() > 0
    return dep


@pytest.mark.parametrize("h,w", [(7, 7), (8, 8)])
def test_the_bottom_prior_is_causal_given_the_top(h, w):
    prior = tiny_prior().double().bottom
    top = torch.randint(0, 8, (1, (h + 1) // 2, (w + 1) // 2))
    dep = dependence(prior, top, h, w)
    assert not (dep & torch.ones(h * w, h * w, dtype=torch.bool).triu()).any()
    # ...and every bottom logit does see the top grid, the first position included
    logits = lambda t: prior(torch.zeros(1, h, w, dtype=torch.long), None, t)  # noqa: E731
    changed = (logits(top) - logits((top + 1) % 8)).abs().sum(1)[0]
    assert (changed > 0).all()


def test_the_top_prior_does_not_see_the_bottom_codes():
    prior = tiny_prior().eval()
    top = torch.randint(0, 8, (2, 4, 4))
    a, _ = prior(torch.zeros(2, 7, 7, dtype=torch.long), None, top)
    b, _ = prior(torch.randint(0, 32, (2, 7, 7)), None, top)
    assert torch.equal(a, b)


@pytest.mark.parametrize("side", [7, 8])
def test_fast_and_naive_samplers_draw_the_same_codes_at_both_levels(side):
    prior = tiny_prior(n_classes=3).double().eval()
    labels = torch.tensor([0, 2, 1])
    top_side = (side + 1) // 2
    codes = {}
    for name, sampler in (("naive", sample_naive), ("fast", sample)):
        generator = torch.Generator().manual_seed(3)
        top = list(sampler(prior.top, 3, top_side, top_side, Sampling(), generator, labels))[-1].codes.clone()
        bottom = list(sampler(prior.bottom, 3, side, side, Sampling(), generator, labels, condition=top))[-1].codes
        codes[name] = (top, bottom.clone())
    assert torch.equal(codes["naive"][0], codes["fast"][0]) and torch.equal(codes["naive"][1], codes["fast"][1])
    assert len(codes["fast"][1].unique()) > 1


def test_the_stream_fills_the_top_grid_then_the_bottom_one():
    model, prior = tiny_model().eval(), tiny_prior().eval()
    steps = list(stream_samples(prior, model, 2, seed=1))
    levels = [p.level for p in steps]
    assert levels == ["top"] * 16 + ["bottom"] * 49
    assert [p.done for p in steps] == list(range(1, 66)) and steps[-1].total == 65
    last = steps[-1]
    assert torch.equal(last.top, steps[15].codes)  # the bottom is drawn given the finished top grid
    assert decode_progress(model, steps[3]).shape == (2, 1, 28, 28)  # a half-filled top grid shows
    assert torch.equal(decode_progress(model, last), model.decode_levels(last.top, last.codes))


def test_a_prior_of_the_other_kind_is_refused():
    one_level = build_prior(PriorConfig(codebook_size=32, channels=8, head=8, n_blocks=2))
    with pytest.raises(VQVAEError, match="level"):
        stream_samples(one_level, tiny_model(), 1)


def test_save_and_load_round_trip(tmp_path):
    model, prior = tiny_model("pokemon").eval(), tiny_prior().eval()
    model.save_pretrained(tmp_path / "vq")
    prior.save_pretrained(tmp_path / "prior")
    loaded, loaded_prior = load_vqvae(tmp_path / "vq"), load_prior(tmp_path / "prior")
    assert isinstance(loaded, TwoLevelVQVAE) and isinstance(loaded_prior, TwoLevelPrior)
    images = torch.rand(2, 3, 64, 64)
    assert all(torch.equal(a, b) for a, b in zip(model.encode_levels(images), loaded.encode_levels(images)))
    codes, top = torch.randint(0, 32, (2, 7, 7)), torch.randint(0, 8, (2, 4, 4))
    assert all(torch.equal(a, b) for a, b in zip(prior(codes, None, top), loaded_prior(codes, None, top)))


def test_the_projection_shows_either_levels_codes_among_its_encoder_outputs():
    from vqvae.dashboard.codebook_view import project

    model = tiny_model().eval()
    images = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    top, bottom = project(model, images, level="top"), project(model, images)
    assert top.codes.shape == (8, 2) and top.usage.sum() == 6 * 16  # K = 8; 4 x 4 top positions an image
    assert bottom.codes.shape == (32, 2) and bottom.usage.sum() == 6 * 49
    grids = model.encode_levels(images.float() / 255)
    assert torch.equal(torch.from_numpy(top.usage), torch.bincount(grids[0].reshape(-1), minlength=8))

