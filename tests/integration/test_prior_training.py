"""Training the prior on a frozen VQ-VAE's codes, its run folder, and sampling from it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import read_jsonl, small_prior_config
from vqvae import VQVAEError, files
from vqvae.store import checkpoints
from vqvae.store.load import load_prior, load_vqvae
from vqvae.data.datasets import ImageData, shift_images
from vqvae.models.sampling import sample_images, sample_labels, stream_samples
from vqvae.store.layout import CODES, VQVAE_COPY
from vqvae.training.prior_trainer import encode_splits, train_prior
from vqvae.store.codes import load_codes, save_codes
from vqvae.store.provenance import vqvae_of_prior
from vqvae.store.provenance import data_of_vqvae
from vqvae.store import layout
from vqvae.store.run_folder import RunFolder


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory, trained_run):
    """Two epochs of a small class-conditional prior on the codes of the trained MNIST run."""
    out = tmp_path_factory.mktemp("priors") / "mnist-prior"
    status = train_prior(small_prior_config(trained_run), out, progress=False)
    assert status["state"] == "done", status
    return out


def test_training_lowers_held_out_nll_below_the_unigram_baseline(prior_run):
    epochs = [r for r in read_jsonl(prior_run / layout.METRICS) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    last = epochs[-1]
    assert last["uniform_nll"] == pytest.approx(math.log(32))
    assert last["unigram_nll"] < last["uniform_nll"]
    assert last["val_nll"] < last["unigram_nll"]
    assert last["val_bits_per_code"] == pytest.approx(last["val_nll"] / math.log(2))
    assert epochs[1]["val_nll"] < epochs[0]["val_nll"]
    status = RunFolder(prior_run).status()
    assert status["state"] == "done" and status["best_val_nll"] == pytest.approx(min(r["val_nll"] for r in epochs))


def test_the_run_folder_stands_alone(prior_run, trained_run):
    """The frozen VQ-VAE is copied in, the codes are cached, checkpoints load strictly."""
    assert (prior_run / VQVAE_COPY / layout.WEIGHTS).read_bytes() == (checkpoints.resolve_checkpoint(trained_run) / layout.WEIGHTS).read_bytes()
    prior = load_prior(prior_run)
    assert prior.config.codebook_size == 32 and prior.config.n_classes == 10  # MNIST has labels
    assert not prior.training
    for which in ("best", "last"):
        assert (layout.checkpoint_dir(prior_run, which) / "README.md").read_text().count("held-out NLL") == 1
    assert (layout.checkpoint_dir(prior_run, "last") / layout.OPTIMIZER).is_file()
    assert vqvae_of_prior(layout.checkpoint_dir(prior_run, "best")) == prior_run / VQVAE_COPY


def test_cached_codes_are_the_vqvae_codes_of_both_splits(prior_run, trained_run):
    vqvae = load_vqvae(trained_run)
    data = data_of_vqvae(trained_run, vqvae)
    cached = load_codes(prior_run / CODES)
    fresh = encode_splits(vqvae, data)
    assert torch.equal(cached.train, fresh.train) and torch.equal(cached.val, fresh.val)
    assert torch.equal(cached.train_labels, data.train_labels) and torch.equal(cached.val_labels, data.val_labels)
    assert cached.train.shape == (9000, 7, 7) and cached.val.shape == (1000, 7, 7)


def test_each_epoch_leaves_a_sample_grid(prior_run):
    grids = sorted((prior_run / "samples").glob("epoch_*.png"))
    assert [g.name for g in grids] == ["epoch_001.png", "epoch_002.png"]
    with Image.open(grids[-1]) as im:
        assert im.size == (10 * 29 + 1, 29 + 1)  # 10 samples, one per digit, 28 px + 1 px padding


def test_resume_continues_without_re_encoding(tmp_path, trained_run):
    out = tmp_path / "prior"
    train_prior(small_prior_config(trained_run, epochs=1), out, progress=False)
    codes_before = (out / CODES).stat().st_mtime_ns
    status = train_prior(None, out, resume=True, progress=False, epochs=2)
    assert status["state"] == "done" and status["epoch"] == 2
    assert (out / CODES).stat().st_mtime_ns == codes_before
    assert [r["epoch"] for r in RunFolder(out).metrics("epoch")] == [1, 2]
    steps = [r["step"] for r in RunFolder(out).metrics("step")]
    assert steps == sorted(set(steps))  # no step logged twice


def test_a_resume_that_lost_its_code_cache_re_encodes_the_runs_own_data(tmp_path, tiny_run):
    """The VQ-VAE copy in the run folder does not say what it was trained on; the run's
    config does, so a deleted cache is rebuilt from the same image folder (not from MNIST)."""
    out = tmp_path / "prior"
    train_prior(small_prior_config(tiny_run, epochs=1, batch_size=8), out, progress=False)
    before = load_codes(out / CODES)
    (out / CODES).unlink()
    status = train_prior(None, out, resume=True, progress=False, epochs=2)
    assert status["state"] == "done" and status["data"] == before.name
    after = load_codes(out / CODES)
    assert torch.equal(after.train, before.train) and torch.equal(after.val, before.val)


@pytest.mark.parametrize("damage", ["code out of range", "other grid size", "other shift", "random bytes"])
def test_a_code_cache_that_does_not_fit_the_run_is_encoded_again(tmp_path, trained_run, damage, capsys):
    out = tmp_path / "prior"
    train_prior(small_prior_config(trained_run, epochs=0), out, progress=False)
    codes = load_codes(out / CODES)
    good = (codes.train.clone(), codes.val.clone())
    if damage == "code out of range":
        codes.train[0, 0, 0] = 32  # the VQ-VAE has 32 codes
    elif damage == "other grid size":
        codes.train, codes.val = codes.train[:, :5, :5], codes.val[:, :5, :5]
    else:
        codes.copies = 9
    save_codes(out / CODES, codes)
    if damage == "random bytes":
        (out / CODES).write_bytes(bytes(range(256)) * 4)
    status = train_prior(None, out, resume=True, progress=False, epochs=1)
    assert status["state"] == "done"
    notice = capsys.readouterr().err
    assert "code cache" in notice and "encoding the data again" in notice
    again = load_codes(out / CODES)
    assert torch.equal(again.train, good[0]) and torch.equal(again.val, good[1])


def test_unconditional_when_asked_or_when_the_data_has_no_labels(tmp_path, trained_run, tiny_run):
    cfg = small_prior_config(trained_run, epochs=0, conditional=False)
    train_prior(cfg, tmp_path / "a", progress=False)
    assert load_prior(tmp_path / "a").config.n_classes == 0
    train_prior(small_prior_config(tiny_run, epochs=1, batch_size=8), tmp_path / "b", progress=False)  # an image folder
    assert load_prior(tmp_path / "b").config.n_classes == 0


def test_the_sampler_streams_every_position_and_decodes_to_images(prior_run):
    prior, vqvae = load_prior(prior_run), load_vqvae(prior_run / VQVAE_COPY)
    steps = list(stream_samples(prior, vqvae, 4, temperature=0.8, seed=3, label=7))
    assert [p.done for p in steps] == list(range(1, 50)) and steps[-1].total == 49
    codes = steps[-1].codes
    assert codes.shape == (4, 7, 7) and 0 <= codes.min() and codes.max() < 32
    again = sample_images(prior, vqvae, 4, temperature=0.8, seed=3, label=7)
    assert torch.equal(again, vqvae.decode(codes))  # same seed, same images
    assert again.shape == (4, 1, 28, 28) and 0 <= again.min() and again.max() <= 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "at least 1"), (dict(temperature=0.0), "temperature must be positive"),
    (dict(label=10), "0..9"),
])
def test_bad_sampling_settings_are_refused_before_drawing(prior_run, kwargs, message):
    prior, vqvae = load_prior(prior_run), load_vqvae(prior_run / VQVAE_COPY)
    settings = dict(n=2, temperature=1.0, seed=0, label=None)
    settings.update(kwargs)
    with pytest.raises(VQVAEError, match=message):
        stream_samples(prior, vqvae, **settings)


def test_a_tiny_temperature_draws_the_most_likely_codes(prior_run):
    """Not NaN probabilities (which drew the last code everywhere): the argmax, whatever the seed."""
    prior, vqvae = load_prior(prior_run), load_vqvae(prior_run / VQVAE_COPY)
    grids = [list(stream_samples(prior, vqvae, 10, temperature=1e-320, seed=seed))[-1].codes for seed in (0, 1)]
    assert torch.equal(grids[0], grids[1])
    assert grids[0].unique().numel() > 1


def test_a_label_for_an_unconditional_prior_is_refused():
    with pytest.raises(VQVAEError, match="not class-conditional"):
        sample_labels(0, 2, 3, "cpu")
    assert sample_labels(0, 2, None, "cpu") is None
    assert sample_labels(10, 12, None, "cpu").tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_a_vqvae_with_another_codebook_size_is_refused(prior_run, tiny_run):
    with pytest.raises(VQVAEError, match="models 32 codes but the VQ-VAE has 16"):
        stream_samples(load_prior(prior_run), load_vqvae(tiny_run), 2)


def test_a_vqvae_run_is_not_a_prior(trained_run, tmp_path):
    with pytest.raises(VQVAEError, match="holds a VQ-VAE, not a prior"):
        load_prior(trained_run)
    with pytest.raises(VQVAEError, match="holds a VQ-VAE run, not a prior run"):
        train_prior(None, trained_run, resume=True, progress=False)


# --- the CLI --------------------------------------------------------------------------
def test_sample_cli_writes_a_grid_with_a_progress_bar(cli, cli_here, prior_run, tmp_path):
    out = tmp_path / "grid.png"
    result = cli("sample", "--prior", prior_run, "--n", 12, "--out", out, "--seed", 5)
    assert result.returncode == 0, result.stderr
    assert "49/49" in result.stderr  # the progress bar reached the last code
    with Image.open(out) as im:
        assert im.size == (10 * 29 + 1, 2 * 29 + 1)  # one column per digit
    again, gif = tmp_path / "again.png", tmp_path / "film.gif"  # in this process: the same codes as the CLI's own
    result = cli_here("sample", "--prior", prior_run, "--n", 12, "--out", again, "--seed", 5, "--gif", gif, "--no-progress")
    assert result.returncode == 0 and "7 frames" in result.stdout, result.stderr
    assert again.read_bytes() == out.read_bytes()
    with Image.open(gif) as film, Image.open(out) as grid:  # a frame a row of 7 codes, and the finished grid
        assert film.n_frames == 7 and film.size == (10 * 57 + 1, 2 * 57 + 1)  # each digit enlarged twice
        first = np.asarray(film.convert("RGB"))
        film.seek(film.n_frames - 1)
        last = np.asarray(film.convert("RGB").resize(grid.size, Image.Resampling.BOX)).astype(float)
        assert (first[1:57, 1:57] == 128).mean() > 0.8  # the first digit: a row of its 7 drawn, the rest grey
        assert np.abs(last - np.asarray(grid.convert("RGB"), dtype=float)).mean() < 8  # ends on the grid
    greedy = cli_here("sample", "--prior", prior_run, "--n", 12, "--out", again, "--top-k", 1, "--top-p", 0.5, "--no-progress")
    assert greedy.returncode == 0 and "top-k 1, top-p 0.5" in greedy.stdout, greedy.stderr


def test_train_prior_cli_trains_and_resumes(cli, trained_run, tmp_path):
    out = tmp_path / "p"
    args = ["--prior-channels", 8, "--head", 8, "--blocks", 2, "--batch-size", 256, "--samples", 4, "--shift", 0,
            "--no-progress"]
    result = cli("train-prior", "--vqvae", trained_run, "--out", out, "--epochs", 1, *args)
    assert result.returncode == 0, result.stderr
    assert "best held-out NLL" in result.stdout
    saved = files.read_json(out / layout.CONFIG)
    assert saved["prior"]["channels"] == 8 and saved["prior"]["codebook_size"] == 32
    result = cli("train-prior", "--out", out, "--resume", "--epochs", 2, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert RunFolder(out).status()["epoch"] == 2


@pytest.mark.parametrize("case", ["other K", "unknown run", "n 0", "temperature 0", "negative temperature",
                                  "label out of range", "vqvae run as prior", "new run without --vqvae",
                                  "resume with new settings", "unknown vqvae", "prior as vqvae", "n too large",
                                  "unwritable out", "top-k 0", "top-p 0", "top-p above 1"])
def test_bad_input_is_one_line_and_exit_2(cli_here, case, prior_run, trained_run, tiny_run, tmp_path):
    out = tmp_path / "grid.png"
    sample = ["sample", "--prior", prior_run, "--out", out, "--n", 2]
    (tmp_path / "a-file").write_text("not a folder")
    args = {
        "other K": [*sample, "--vqvae", tiny_run],
        "unknown run": ["sample", "--prior", tmp_path / "no-such-run", "--out", out],
        "n 0": [*sample[:-2], "--n", 0],
        "temperature 0": [*sample, "--temperature", 0],
        "negative temperature": [*sample, "--temperature", -1],
        "label out of range": [*sample, "--label", 12],
        "vqvae run as prior": ["sample", "--prior", trained_run, "--out", out],
        "new run without --vqvae": ["train-prior", "--out", tmp_path / "p"],
        "resume with new settings": ["train-prior", "--out", prior_run, "--resume", "--lr", 1],
        "unknown vqvae": ["train-prior", "--vqvae", tmp_path / "nothing", "--out", tmp_path / "p"],
        "prior as vqvae": ["train-prior", "--vqvae", prior_run, "--out", tmp_path / "p"],
        "n too large": [*sample[:-2], "--n", 5000],
        "unwritable out": ["sample", "--prior", prior_run, "--out", tmp_path / "a-file" / "grid.png"],
        "top-k 0": [*sample, "--top-k", 0],
        "top-p 0": [*sample, "--top-p", 0],
        "top-p above 1": [*sample, "--top-p", 1.5],
    }[case]
    result = cli_here(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    said = {"prior as vqvae": "holds a PixelCNN prior", "n too large": "at most 1024", "unwritable out": "cannot write into",
            "top-k 0": "top-k must be at least 1", "top-p 0": "top-p must lie in (0, 1]", "top-p above 1": "(0, 1]"}
    assert said.get(case, "") in lines[0]


def test_shifted_images_move_without_wrapping():
    images = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    images[0, 0, 4, 4] = 200  # bottom-right corner
    images[0, 0, 2, 1] = 100
    down_right = shift_images(images, 1, 1)
    assert down_right[0, 0, 3, 2] == 100 and down_right.dtype == torch.uint8
    assert down_right[0, 0, 0, 0] == 0  # the corner pixel did not wrap to the top left
    up_left = shift_images(images, -1, -1)
    assert up_left[0, 0, 1, 0] == 100 and up_left[0, 0, 4, 4] == 200  # the edge fills the gap
    assert shift_images(images, 0, 0) is images


def test_shift_augmentation_adds_shifted_copies_of_the_training_codes(trained_run, mnist):
    vqvae = load_vqvae(trained_run)
    small = ImageData("small", mnist.train[:20], mnist.val[:5], mnist.train_labels[:20], mnist.val_labels[:5])
    plain, shifted = encode_splits(vqvae, small), encode_splits(vqvae, small, shift=1)
    assert shifted.copies == 9 and shifted.train.shape == (180, 7, 7)
    assert torch.equal(shifted.unshifted_train, plain.train)  # the unshifted images come first
    assert torch.equal(shifted.val, plain.val)  # held-out images are never shifted
    assert torch.equal(shifted.train_labels, small.train_labels.repeat(9))
    assert not torch.equal(shifted.train[20:40], plain.train)
