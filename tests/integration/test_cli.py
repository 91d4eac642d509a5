"""The command line: user mistakes give one `error:` line and exit status 2, never a
traceback, and touch nothing. Each command line runs in-process through vqvae.cli.main
(what `python -m vqvae` runs), its output captured; one test runs the real
`python -m vqvae` in a subprocess, so the entry point itself is covered too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import folder_snapshot
from vqvae.store.run_folder import RunFolder


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert result.stdout == ""
    return line


TINY = ["--hidden", "16", "--codebook-size", "16", "--code-dim", "8", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--codebook-size", "1"], ["codebook size 1", "at least 2"]),
        (["--image-size", "30"], ["image size 30", "multiple of 4"]),
        (["--epochs", "-1"], ["epochs", "-1"]),
        (["--preset", "nope"], ["unknown preset 'nope'", "mnist"]),
        (["--dataset", "folder", "--data", "/nonexistent"], ["/nonexistent", "does not exist"]),
    ],
    ids=["codebook-size-1", "image-size-30", "negative-epochs", "unknown-preset", "missing-folder"],
)
def test_train_rejects_bad_settings(cli_here, tmp_path, args, fragments):
    out = tmp_path / "run"
    result = cli_here("train", "--out", out, *TINY, *args)
    assert_user_error(result, *fragments)
    assert not out.exists()  # nothing was created


def test_train_rejects_an_empty_data_folder(cli_here, tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    (data / "nested").mkdir()
    out = tmp_path / "run"
    result = cli_here("train", "--out", out, "--dataset", "folder", "--data", data, *TINY)
    assert_user_error(result, str(data), "0 readable")
    assert not out.exists()


def test_train_refuses_to_overwrite_an_existing_run(cli_here, tmp_path, tiny_run):
    run = tmp_path / "existing"
    shutil.copytree(tiny_run, run)
    before = folder_snapshot(run)
    result = cli_here("train", "--out", run, *TINY)
    assert_user_error(result, str(run), "--resume")
    assert folder_snapshot(run) == before  # byte-identical, nothing added or removed


def _copied_checkpoint(tiny_run, tmp_path):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_run / "checkpoints" / "best", folder)
    return folder


def test_eval_of_a_good_checkpoint(cli_here, tmp_path, tiny_run):
    """The positive control for the two eval errors below."""
    folder = _copied_checkpoint(tiny_run, tmp_path)
    result = cli_here("eval", "--model", folder, "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["images"] == 1000 and "bundled" in metrics["data"]
    assert 0 < metrics["val_mse"] < 1
    assert metrics["val_psnr"] == pytest.approx(-10 * __import__("math").log10(metrics["val_mse"]))


def test_eval_of_a_run_folder_uses_its_data(cli_here, tiny_run):
    result = cli_here("eval", "--model", tiny_run, "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["images"] == 2  # the run's own image folder: 2 held-out images of 20
    epoch = RunFolder(tiny_run).metrics("epoch")[-1]
    assert metrics["val_mse"] == pytest.approx(epoch["val_mse"], rel=1e-5)


def test_eval_of_a_corrupt_checkpoint(cli_here, tmp_path, tiny_run):
    folder = _copied_checkpoint(tiny_run, tmp_path)
    (folder / "model.safetensors").write_bytes(os.urandom(64) + b"garbage" * 50)
    result = cli_here("eval", "--model", folder, "--device", "cpu")
    assert_user_error(result, str(folder), "corrupt")


def test_eval_of_a_mismatched_checkpoint(cli_here, tmp_path, tiny_run):
    folder = _copied_checkpoint(tiny_run, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["codebook_size"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    result = cli_here("eval", "--model", folder, "--device", "cpu")
    assert_user_error(result, str(folder), "does not match")


def test_eval_of_a_missing_model(tmp_path):
    """The real `python -m vqvae` in a subprocess (conftest's run_cli): its exit status and
    stderr are the entry point's, not just main()'s."""
    from conftest import run_cli

    result = run_cli("eval", "--model", tmp_path / "nothing", "--device", "cpu")
    assert_user_error(result, "does not exist")


@pytest.mark.slow
def test_resume_without_epochs_continues_the_runs_own_plan(cli_here, tmp_path, tiny_image_folder):
    """`train --out RUN --resume` (no --epochs) must finish the run as it was planned, not
    train it up to the default preset's 20 epochs (README: "continue an interrupted (or
    finished) run, optionally for more epochs")."""
    out = tmp_path / "run"
    first = cli_here("train", "--out", out, "--dataset", "folder", "--data", tiny_image_folder, "--epochs", "1",
                "--batch-size", "8", *TINY)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("done:")
    planned = json.loads((out / "status.json").read_text())
    assert (planned["epoch"], planned["step"]) == (1, 3)  # 18 training images / batch 8

    # In-process, so nothing stops it early: a resume that wrongly plans the preset's 20
    # epochs trains them all, then fails here.
    second = cli_here("train", "--out", out, "--resume", "--no-progress")
    extra_epochs = any(r["epoch"] > 1 for r in RunFolder(out).metrics("epoch"))
    status = json.loads((out / "status.json").read_text())
    assert not extra_epochs, f"--resume without --epochs trained past the run's 1 epoch (status: {status})"
    assert second.returncode == 0, second.stderr
    assert status["state"] == "done" and status["epoch"] == 1 and status["step"] == 3


def test_every_flag_sets_its_setting():
    """The flags are made from the config's fields: each one given lands in its field, a
    tuple of whole numbers (FSQ's levels) written as "3,4"."""
    from dataclasses import fields

    from vqvae.cli.parser import build_parser
    from vqvae.cli.setting_flags import holds_whole_numbers, run_config_from_args
    from vqvae.config import ModelConfig, TrainConfig, flag_name, value_type

    argv, expected = ["train", "--out", "x"], {}
    for section in (ModelConfig, TrainConfig):
        for f in fields(section):
            flag, kind, choices = flag_name(f), value_type(f), f.metadata.get("choices")
            if flag is None:
                continue
            default = f.default
            if kind is bool:
                value = not default
                argv.append(f"--{flag}" if value else f"--no-{flag}")
            elif holds_whole_numbers(section, f.name):
                value = (3, 4)
                argv += [f"--{flag}", "3,4"]
            else:
                value = choices[-1] if choices else {int: 3, float: 0.5, str: "somewhere"}[kind]
                argv += [f"--{flag}", str(value)]
            expected[(section.__name__, f.name)] = value
    assert ("ModelConfig", "fsq_levels") in expected
    cfg = run_config_from_args(build_parser().parse_args(argv))
    for (section, name), value in expected.items():
        assert getattr(cfg.model if section == "ModelConfig" else cfg.train, name) == value, name


def test_fsq_levels_are_read_as_whole_numbers():
    """`--fsq-levels 8,5,5,5` (the only way a tuple can be written on a command line) is the
    tuple (8, 5, 5, 5) in the config, spaces allowed; text that is not whole numbers reaches
    the config's validation as it is, which refuses it in one line."""
    from vqvae.cli.parser import build_parser
    from vqvae.cli.setting_flags import run_config_from_args

    def levels(text):
        return run_config_from_args(build_parser().parse_args(["train", "--out", "x", "--fsq-levels", text])).model.fsq_levels

    assert levels("8,5,5,5") == (8, 5, 5, 5)
    assert levels(" 4, 3 ") == (4, 3)
    assert levels("8,five") == "8,five"


def test_the_cli_refuses_text_levels_in_one_line(cli_here, tmp_path):
    out = tmp_path / "run"
    result = cli_here("train", "--out", out, "--quantizer", "fsq", "--fsq-levels", "8,five", *TINY)
    assert_user_error(result, "8,five")
    assert not out.exists()
