"""Colour: the bundled Pokémon models on every page, each model naming its data set,
and the pages drawing their held-out examples from the active model's data set."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from pages.catalog import PAGES as CATALOG
from vqvae.cli import main
from vqvae.store.load import load_vqvae
from vqvae.data.datasets import class_names, pokemon_types
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.provenance import dataset_of_prior
from vqvae.store.provenance import dataset_of_vqvae, held_out_of_vqvae

PAGES = [entry.path for entry in CATALOG]


def run_main(capsys, *args) -> tuple[int, str, str]:
    """The command line run in-process (vqvae.cli.main): (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(REPO)
    test = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    test.run()
    test.sidebar.selectbox[0].set_value("pokemon-ema").run()
    return test


def labelled(elements, label):
    found = [e for e in elements if e.label == label]
    assert found, f"no widget labelled {label!r} among {[e.label for e in elements]}"
    return found[0]


def test_every_page_renders_with_the_pokemon_model_active(app):
    assert "trained on Pokémon" in app.sidebar.caption[0].value
    assert "colour 64 px" in app.sidebar.caption[0].value
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, (page, app.exception)
        assert not app.error, (page, [e.value for e in app.error])
        assert app.sidebar.selectbox[0].value == "pokemon-ema", page  # the choice survives every page


def test_the_pages_show_the_active_models_own_held_out_images(app):
    metrics = {m.label: m.value for m in app.metric}
    k = load_vqvae(BUNDLED_DIR / "pokemon-ema").config.codebook_size
    assert metrics["codes"] == "16 x 16 = 256"  # a 16 x 16 grid of Pokémon codes, not MNIST's 7 x 7
    assert next(m for m in app.metric if m.label == "codes").delta.endswith(f"distinct of K = {k}")
    app.switch_page("pages/reconstruct.py").run()
    examples = labelled(app.selectbox, "Held-out Pokémon image")
    types = pokemon_types()
    assert len(examples.options) == len(types)  # the first held-out picture of each type
    assert any(option.startswith("Grass") for option in examples.options)


def test_the_codebook_page_shows_16_rows_of_a_large_codebook_until_asked_for_more(app):
    app.switch_page("pages/codebook.py").run()
    k = load_vqvae(BUNDLED_DIR / "pokemon-ema").config.codebook_size
    assert k > 1024  # larger than the page draws at once
    caption = app.get("image")[0].proto.imgs[0].caption
    assert f"The first 256 of the {k:,} codes" in caption
    app.select_slider(key="codebook_tiles").set_value(1024).run()
    assert not app.exception, app.exception
    assert f"The first 1,024 of the {k:,} codes" in app.get("image")[0].proto.imgs[0].caption
    app.sidebar.selectbox[0].set_value("mnist-ema").run()  # K = 128: the kept 1,024 is not on its slider
    assert not app.exception, app.exception
    assert app.select_slider(key="codebook_tiles").value == 128


def test_the_sample_page_offers_the_types_of_the_pokemon_prior(app):
    app.switch_page("pages/sample.py").run()
    assert labelled(app.selectbox, "Prior").value == "pokemon-ema-prior"
    types = labelled(app.selectbox, "Type")
    assert types.options[0] == "each type in turn"
    assert types.options[1:] == class_names("pokemon") == [name.capitalize() for name in pokemon_types()]
    assert app.number_input[0].value == 18  # one row of the 18 types, a type per column
    types.set_value(pokemon_types().index("fire"))
    app.number_input[0].set_value(2)
    labelled(app.button, "Sample").click().run()
    assert not app.exception, app.exception
    _, images, caption, _ = app.session_state["sample-last-grid"]  # the grid shown, with its caption
    assert images.shape == (2, 3, 64, 64) and "2 samples of the type Fire" in caption


def test_the_compare_page_starts_on_the_pokemon_pair(app):
    app.switch_page("pages/compare.py").run()
    assert labelled(app.radio, "Data set").value == "Pokémon (colour)"
    assert labelled(app.multiselect, "Models").value == ["pokemon-plain", "pokemon-ema"]
    assert any("No training curves for A: pokemon-plain, B: pokemon-ema" in c.value for c in app.caption)
    labelled(app.radio, "Data set").set_value("MNIST").run()  # MNIST has a bundled comparison of four
    assert labelled(app.multiselect, "Models").value == ["mnist-compare-plain", "mnist-compare-ema",
                                                         "mnist-compare-ema-rotation-trick", "mnist-compare-fsq"]
    assert not app.exception


def test_bundled_models_name_their_data_set():
    assert dataset_of_vqvae(BUNDLED_DIR / "pokemon-ema") == "pokemon"
    assert dataset_of_prior(BUNDLED_DIR / "pokemon-ema-prior") == "pokemon"
    assert dataset_of_vqvae(BUNDLED_DIR / "mnist-ema") == "mnist"
    assert class_names("pokemon")[pokemon_types().index("fire")] == "Fire" and class_names("mnist")[3] == "3"
    card = (BUNDLED_DIR / "pokemon-ema" / "README.md").read_text()
    assert "The Pokémon Company" in card and "PSNR" in card and "reconstructions.png" in card


def test_a_bare_colour_checkpoint_is_not_taken_for_mnist(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(BUNDLED_DIR / "pokemon-ema" / name, bare / name)
    assert dataset_of_vqvae(bare) is None
    data, dataset, notice = held_out_of_vqvae(bare, load_vqvae(bare))
    assert dataset == "pokemon" and data.val.shape[1:] == (3, 64, 64)
    assert "stand in" in notice


def test_a_label_outside_the_types_is_one_line(tmp_path, capsys):
    code, _, stderr = run_main(capsys, "sample", "--prior", "pokemon-ema-prior", "--label", "99", "--n", "2",
                               "--out", tmp_path / "grid.png")
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "0..17" in stderr, stderr
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize("label, works", [("fire", True), ("Fire", True), ("dragonite", False)])
def test_a_type_can_be_named_on_the_command_line(tmp_path, label, works, capsys):
    code, stdout, stderr = run_main(capsys, "sample", "--prior", "pokemon-ema-prior", "--label", label, "--n", "2",
                                    "--out", tmp_path / "grid.png", "--no-progress")
    if works:
        assert code == 0 and "label 6" in stdout, stderr  # fire is type 6 of 18
        assert (tmp_path / "grid.png").is_file()
    else:
        assert code == 2 and stderr.strip().count("\n") == 0, stderr
        assert "give --label one of bug, dark" in stderr and not (tmp_path / "grid.png").exists()
