"""The one training loop (vqvae/training/loop.py) on a kind that is only numbers: when it
reads the losses, divergence, hooks that watch and stop a run, and a stopped run resumed."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from conftest import tiny_folder_run_config
from vqvae.config import ClassifierConfig
from vqvae.errors import VQVAEError
from vqvae.models.classifier import Classifier
from vqvae.store import checkpoints, layout
from vqvae.store.load import load_classifier
from vqvae.training.hooks import Hooks
from vqvae.training.kinds.base import Evaluation, Kind, model_card
from vqvae.training.loop import STOPPED, train_epochs, train_run
from vqvae.training.optimizer_step import Stepper
from vqvae.training.run import Run
from vqvae.training.vqvae_trainer import train
from vqvae.store.run_folder import RunFolder

CPU = torch.device("cpu")


class CountingKind(Kind):
    """12 one-item batches whose losses come from a list, noting the steps at which the loop
    reads them (each read waits for the device on a GPU). Its model is a tiny classifier, so
    checkpoints are real."""

    best_metric = "val_loss"

    def __init__(self, losses, epochs: int = 1):
        train = SimpleNamespace(epochs=epochs, batch_size=1, lr=1e-3, cosine=False, seed=0, log_every=5)
        self.cfg = SimpleNamespace(train=train, to_dict=lambda: {"train": vars(train)})
        torch.manual_seed(0)
        self.model_config = ClassifierConfig(image_size=8, width=1, feature_dim=2)
        self.trainer = Stepper(Classifier(self.model_config), 1e-3, CPU)
        self.n_train, self.losses, self.read_at, self.stepped = 12, iter(losses), [], 0

    def load(self, folder):
        return load_classifier(folder)

    def step(self, batch, step):
        assert batch.shape == (1,)
        self.stepped = step + 1
        return torch.tensor([next(self.losses)])

    def named(self, stats):
        self.read_at.append(self.stepped)
        return {"loss": stats.item()}

    def evaluate(self):
        return Evaluation({"val_loss": 1.0 / (1 + self.stepped)})

    def card(self, held_out, step):
        return model_card(["test"], f"# counting kind\n\n{step} steps\n")


def counting_run(out, losses, epochs: int = 1) -> Run:
    return Run(out, CountingKind(losses, epochs))


def test_the_loop_reads_the_losses_only_on_the_steps_it_logs(tmp_path):
    run = counting_run(tmp_path, [1.0] * 12)
    assert train_epochs(run, lambda: False, False, Hooks())["state"] == "done"
    assert run.kind.read_at == [5, 10, 12]  # log_every 5, and the epoch's last step; never in between
    assert [r["step"] for r in RunFolder(tmp_path).metrics("step")] == [5, 10, 12]


def test_a_diverged_run_stops_at_the_next_logged_step_in_one_line(tmp_path):
    run = counting_run(tmp_path, [1.0] * 6 + [math.nan] * 6)
    with pytest.raises(VQVAEError, match="training diverged by step 10 .*lower the learning rate"):
        train_epochs(run, lambda: False, False, Hooks())


def test_a_run_cancelled_after_diverging_keeps_no_diverged_weights(tmp_path):
    run = counting_run(tmp_path, [1.0] * 6 + [math.nan] * 6)
    saved = []
    run.save_last = lambda: saved.append(run.counters["step"])
    with pytest.raises(VQVAEError, match="training diverged by step 7"):
        train_epochs(run, lambda: run.counters["step"] >= 7, False, Hooks())  # cancelled right after the first NaN step
    assert saved == []


class Recorder(Hooks):
    """Notes what it is shown; stops the run after `stop_at` steps when given."""

    def __init__(self, stop_at: int | None = None):
        self.stop_at, self.calls = stop_at, []

    def epoch_start(self, run):
        self.calls.append(("epoch_start", run.counters["epoch"], run.counters["step"]))

    def step_end(self, run, stats):
        c = run.counters
        assert run.named(stats)["loss"] == 1.0 and run.model is run.kind.trainer.model and run.device == CPU
        self.calls.append(("step_end", c["epoch"], c["step"], c["batch"], run.steps_per_epoch))
        return self.stop_at is not None and c["step"] >= self.stop_at

    def epoch_end(self, run, metrics):
        self.calls.append(("epoch_end", metrics["epoch"], metrics["step"], metrics["val_loss"]))


def test_hooks_see_every_step_and_each_epoch_line(tmp_path):
    hooks = Recorder()
    status = train_run(tmp_path / "run", False, None, lambda: CountingKind([1.0] * 24, epochs=2), False, hooks)
    assert status["state"] == "done" and status["step"] == 24
    steps = [call for call in hooks.calls if call[0] == "step_end"]
    assert steps == [("step_end", e, 12 * e + b, b, 12) for e in (0, 1) for b in range(1, 13)]
    others = [call for call in hooks.calls if call[0] != "step_end"]
    assert others == [("epoch_start", 0, 0), ("epoch_end", 1, 12, pytest.approx(1 / 13)),
                      ("epoch_start", 1, 12), ("epoch_end", 2, 24, pytest.approx(1 / 25))]
    assert hooks.calls.index(("epoch_start", 1, 12)) == hooks.calls.index(("step_end", 0, 12, 12, 12)) + 2


def test_a_hook_stops_the_run_as_a_cancel_does_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    status = train_run(out, False, None, lambda: CountingKind([1.0] * 12), False, Recorder(stop_at=3))
    assert (status["state"], status["message"], status["step"]) == ("cancelled", STOPPED, 3)  # stopped at once, unlogged
    last = checkpoints.resolve_checkpoint(out, "last")
    assert files_state(last) == (0, 3, 3)
    assert RunFolder(out).metrics("epoch") == []
    resumed = CountingKind([1.0] * 9)
    status = train_run(out, True, None, lambda: resumed, False, Recorder())
    assert status["state"] == "done" and status["step"] == 12
    assert [r["step"] for r in RunFolder(out).metrics("step")] == [5, 10, 12]  # each logged step once
    assert RunFolder(out).status()["state"] == "done"


def files_state(folder) -> tuple[int, int, int]:
    import json

    state = json.loads((folder / layout.TRAINER_STATE).read_text())
    return state["epoch"], state["batch"], state["step"]


def test_a_vqvae_run_stopped_by_a_hook_resumes_to_the_end(tmp_path, tiny_image_folder):
    """vqvae.train passes the hooks through; the stop saves the last checkpoint a resume goes on from."""
    out = tmp_path / "run"
    hooks = Recorder(stop_at=2)
    hooks.step_end = lambda run, stats: run.counters["step"] >= 2
    status = train(tiny_folder_run_config(tiny_image_folder, epochs=2), out, progress=False, hooks=hooks)
    assert (status["state"], status["step"]) == ("cancelled", 2)
    assert files_state(checkpoints.resolve_checkpoint(out, "last")) == (0, 2, 2)
    status = train(None, out, resume=True, progress=False)
    assert status["state"] == "done" and status["epoch"] == 2
    assert [r["step"] for r in RunFolder(out).metrics("step")] == list(range(1, status["step"] + 1))
