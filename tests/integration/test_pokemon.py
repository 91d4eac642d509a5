"""The bundled Pokémon data set: the vendored split, augmentation that a
resume repeats exactly, and the `pokemon` preset from the command line."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import folder_snapshot, tiny_model_config
from vqvae import RunConfig, TrainConfig
from vqvae.cli import main
from vqvae.store.load import load_vqvae
from vqvae.data.datasets import augment, bundled_pokemon, load_data, pokemon_types, shift_images
from vqvae.training.vqvae_trainer import train


def run_main(capsys, *args) -> tuple[int, str, str]:
    """The command line run in-process (vqvae.cli.main): (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_bundled_split_is_fixed_and_covers_every_type():
    data = bundled_pokemon()
    assert data.train.shape == (640, 3, 64, 64) and data.val.shape == (160, 3, 64, 64)
    assert data.train.dtype == torch.uint8
    assert len(pokemon_types()) == 18
    for labels in (data.train_labels, data.val_labels):
        assert set(labels.tolist()) == set(range(18))  # every type on both sides
    again = bundled_pokemon()
    assert torch.equal(again.val, data.val) and torch.equal(again.train_labels, data.train_labels)
    corner = data.val[:, :, :2, :2].float().mean()
    assert corner > 240  # padded with the white background, not black


def test_augmentation_flips_and_moves_and_is_repeatable():
    images = bundled_pokemon().train[:16]
    first = augment(images, torch.Generator().manual_seed(3), max_shift=4)
    again = augment(images, torch.Generator().manual_seed(3), max_shift=4)
    other = augment(images, torch.Generator().manual_seed(4), max_shift=4)
    assert first.shape == images.shape and first.dtype == torch.uint8
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first, images)
    flipped_only = augment(images, torch.Generator().manual_seed(0), max_shift=0)
    for original, result in zip(images, flipped_only):  # with no shift, each is itself or its mirror image
        assert torch.equal(result, original) or torch.equal(result, original.flip(-1))


def test_augmentation_moves_every_image_as_shift_images_does():
    """The batch is moved in one go on its device; each image as if moved alone."""
    images = bundled_pokemon().train[:32]
    generator = torch.Generator().manual_seed(5)
    flips = torch.rand(32, generator=generator) < 0.5
    moves = torch.randint(-4, 5, (32, 2), generator=generator).tolist()
    expected = torch.stack([shift_images(im.flip(-1) if flip else im, dy, dx)
                            for im, flip, (dy, dx) in zip(images, flips, moves)])
    assert torch.equal(augment(images, torch.Generator().manual_seed(5), max_shift=4), expected)


def tiny_pokemon(epochs: int) -> RunConfig:
    return RunConfig(tiny_model_config(in_channels=3, image_size=64, stages=2),
                     TrainConfig(dataset="pokemon", epochs=epochs, batch_size=64, device="cpu", augment=True, log_every=5))


def test_an_augmented_run_resumed_matches_one_that_never_stopped(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(tiny_pokemon(2), straight, progress=False)["state"] == "done"
    assert train(tiny_pokemon(1), resumed, progress=False)["state"] == "done"
    assert train(None, resumed, resume=True, progress=False, epochs=2)["state"] == "done"
    a, b = load_vqvae(straight, "cpu").state_dict(), load_vqvae(resumed, "cpu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_with_the_pokemon_preset_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, stderr = run_main(capsys, "train", "--preset", "pokemon", "--out", out, "--epochs", 1, "--hidden", 16,
                               "--codebook-size", 32, "--code-dim", 4, "--device", "cpu", "--no-progress")
    assert code == 0, stderr
    model = load_vqvae(out)
    assert (model.config.in_channels, model.config.image_size, model.config.grid_size) == (3, 64, 16)
    assert json.loads((out / "status.json").read_text())["data"] == "pokemon (bundled 800 artworks)"


def test_the_pokemon_preset_on_a_folder_without_images_is_one_line(tmp_path, capsys):
    empty = tmp_path / "pictures"
    (empty / "nested").mkdir(parents=True)
    out = tmp_path / "run"
    code, _, stderr = run_main(capsys, "train", "--preset", "pokemon", "--data", empty, "--out", out, "--device", "cpu")
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(empty) in lines[0]
    assert not out.exists()
    assert folder_snapshot(empty) == {}


@pytest.mark.parametrize("channels, size", [(3, 64), (3, 32), (1, 28)])
def test_the_pokemon_set_fits_any_model(channels, size):
    data = load_data("pokemon", channels, size)
    assert data.train.shape[1:] == (channels, size, size) and data.val.shape[1:] == (channels, size, size)
