"""The dashboard's catalog: the models a picker offers and the names it gives them, without
Streamlit."""

from __future__ import annotations

from pathlib import Path

from vqvae.dashboard import catalog
from vqvae.dashboard.runs import RunInfo, training_minutes
from vqvae.store import hub
from vqvae.store.run_folder import RunFolder


def info(path: Path, kind: str = "vqvae", state: str = "done", label: str = "") -> RunInfo:
    return RunInfo(path, kind, state, "", {}, label or path.name)


def test_a_run_is_named_by_what_it_was_started_as_and_when():
    stamped = Path("runs/20241203-210517-mnist-conv-ema-K32-ab12")
    assert catalog.short_label(info(stamped, label="mnist-conv-ema-K32")) == "mnist-conv-ema-K32, Dec 3 21:05:17"
    assert catalog.short_label(info(stamped)) == "mnist-conv-ema-K32, Dec 3 21:05:17"  # from the folder's name
    assert catalog.short_label(info(Path("runs/mine"))) == "mine"
    assert catalog.short_label(info(Path("runs/mine"), label="tried")) == "tried (mine)"
    assert catalog.model_label("pokemon-ema", "Pokémon") == "pokemon-ema (Pokémon)"
    assert catalog.model_label("mnist-ema", None) == "mnist-ema"


def test_the_pickers_offer_the_bundled_models_first_then_usable_runs(tmp_path):
    done, running = info(tmp_path / "a"), info(tmp_path / "b", state="running")
    prior = info(tmp_path / "p", kind="prior")
    choices = catalog.vqvae_choices([done, running, prior])
    assert choices[0] == hub.default_model("vqvae") and str(done.path) in choices
    assert str(running.path) not in choices and str(prior.path) not in choices  # no checkpoint yet
    assert str(running.path) in catalog.vqvae_choices([done, running], unfinished=True)


def test_a_prior_is_found_for_the_vqvae_it_was_trained_on():
    trained_for = catalog.priors_trained_for([])
    assert trained_for["mnist-ema-prior"] == "mnist-ema"
    assert catalog.prior_of("mnist-ema", Path("elsewhere"), trained_for) == "mnist-ema-prior"
    assert catalog.prior_of("nothing", Path("nowhere"), trained_for) is None
    assert catalog.dataset_title("mnist-ema") == "MNIST"


def test_training_minutes_come_from_the_timed_epochs_or_the_run_s_start_and_end(tmp_path):
    assert training_minutes(None) is None
    assert training_minutes(tmp_path) is None  # neither known
    run = tmp_path / "run"
    run.mkdir()
    RunFolder(run).mark("vqvae")
    (run / "job.json").write_text('{"started": 1000.0}')
    RunFolder(run).write_status(state="done")
    status = RunFolder(run).status()
    assert training_minutes(run) == round((status["updated"] - 1000.0) / 60, 1)
