"""The settings' widgets, decided without Streamlit: kind, title, range and start from the
config's declarations and the dashboard's looks; what a value read back from a URL may be."""

from __future__ import annotations

import pytest

from vqvae.config import ModelConfig, TrainConfig
from vqvae.dashboard.widgets import LOOKS, setting_value, widget_for
from vqvae.presets import PRESETS


def test_each_kind_of_setting_gets_its_widget():
    assert widget_for(ModelConfig, "restart_dead_codes", False).kind == "toggle"
    radio = widget_for(ModelConfig, "quantizer", "ema")
    assert (radio.kind, radio.title, radio.options) == ("radio", "Quantizer", ("plain", "ema", "simvq", "fsq", "lfq", "bsq"))
    sizes = widget_for(ModelConfig, "codebook_size", 100)
    assert (sizes.kind, sizes.start, sizes.title) == ("select_slider", 128, "Codebook size K")  # the nearest stop
    beta = widget_for(ModelConfig, "beta", 0.25)
    assert (beta.kind, beta.low, beta.high, beta.step) == ("slider", 0.0, 2.0, 0.05)
    epochs = widget_for(TrainConfig, "epochs", 5)
    assert (epochs.kind, epochs.low, epochs.high, epochs.start) == ("number", 1, 500, 5)
    assert widget_for(ModelConfig, "codebook_init", "data").title == "codebook_init"  # no look: the setting's label


def test_an_optional_number_shows_none_as_0_and_reads_0_back_as_none():
    lookup = widget_for(ModelConfig, "lookup_dim", None)
    assert (lookup.kind, lookup.start, lookup.low, lookup.optional) == ("number", 0, 0, True)
    assert lookup.tip.endswith("(0: none)")
    assert setting_value(ModelConfig, "lookup_dim", 0) is None and setting_value(ModelConfig, "lookup_dim", 4) == 4


def test_fsq_levels_show_as_text_and_read_back_as_numbers():
    levels = widget_for(ModelConfig, "fsq_levels", (8, 5, 5, 5))
    assert (levels.kind, levels.start, levels.title) == ("text", "8,5,5,5", "FSQ levels")
    assert setting_value(ModelConfig, "fsq_levels", "5,4,3") == (5, 4, 3)
    assert setting_value(ModelConfig, "fsq_levels", "8,five") == "8,five"  # for validate() to refuse in words


@pytest.mark.parametrize("section, name, start, good, bad", [
    (ModelConfig, "quantizer", "ema", ["fsq"], ["vq", 1, None]),
    (ModelConfig, "codebook_size", 128, [64, 1024], [100, 64.0, True, "64"]),
    (TrainConfig, "lr", 1e-3, [2e-4], [3e-4, "0.001"]),
    (ModelConfig, "beta", 0.25, [0.0, 2, 1.5], [2.5, -0.1, True, "0.5"]),
    (TrainConfig, "epochs", 5, [1, 500], [0, 501, 2.5, True]),
    (ModelConfig, "lookup_dim", None, [0, 8], [-1, 1.5]),
    (ModelConfig, "cosine_codebook", False, [True, False], [1, "yes"]),
    (ModelConfig, "fsq_levels", (8, 5, 5, 5), ["5,4,3", "8,1"], [543, ["5"]]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_value_read_back_from_a_url_must_fit_the_widget(section, name, start, good, bad):
    widget = widget_for(section, name, start)
    assert all(widget.takes(v) for v in good) and not any(widget.takes(v) for v in bad)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_form_on_a_preset_starts_at_the_presets_own_settings(name):
    # a slider's stops must hold every preset's value, or the Train page would start a preset's
    # run at the nearest stop instead (the Pokémon preset's K 2,048 at 1,024)
    for section, config in ((ModelConfig, PRESETS[name].model), (TrainConfig, PRESETS[name].train)):
        for (looked, setting), look in LOOKS.items():
            if looked is section and look.stops:
                value = getattr(config, setting)
                assert widget_for(section, setting, value).start == value, (name, setting, value)


def test_every_look_names_a_real_setting():
    for section, name in LOOKS:
        assert name in section.__dataclass_fields__, (section.__name__, name)
