"""Codebook use over time: the per-code counts of each epoch line, the deaths and returns
between epochs, and the heatmap drawn from them."""

from __future__ import annotations

import json

import numpy as np

from vqvae.dashboard.code_use import changes, code_use_map, usage_history
from vqvae.store.run_folder import RunFolder

EPOCHS = [
    {"kind": "epoch", "epoch": 1, "code_usage": [5, 3, 0, 2]},
    {"kind": "epoch", "epoch": 2, "code_usage": [6, 0, 1, 3]},
    {"kind": "epoch", "epoch": 3, "code_usage": [7, 2, 1, 0]},
]


def test_the_history_is_the_epoch_lines_counts():
    epochs, counts = usage_history(EPOCHS)
    assert epochs == [1, 2, 3] and counts.shape == (3, 4) and counts[1].tolist() == [6, 0, 1, 3]
    assert usage_history([{"kind": "epoch", "epoch": 1, "val_psnr": 20.0}]) is None  # recorded before counts were
    assert usage_history(EPOCHS + [{"kind": "epoch", "epoch": 4, "code_usage": [1, 2]}]) is None  # another K


def test_deaths_and_new_uses_are_the_changes_between_epochs():
    _, counts = usage_history(EPOCHS)
    died, back = changes(counts)
    assert [tuple(x) for x in np.argwhere(died)] == [(1, 1), (2, 3)]  # code 1 at epoch 2, code 3 at epoch 3
    assert [tuple(x) for x in np.argwhere(back)] == [(1, 2), (2, 1)]


def test_the_map_sorts_codes_by_use_and_marks_the_changes():
    figure = code_use_map("run", *usage_history(EPOCHS))
    heat = figure.data[0]
    assert list(heat.customdata[:, 0]) == [0, 1, 3, 2]  # most used over the run first: 18, 5, 5 (ties by id), 2
    assert np.isnan(heat.z[1][1]) and not np.isnan(heat.z[2][1])  # code 1 unused at epoch 2: the grey background
    names = [trace.name for trace in figure.data[1:]]
    assert names == ["died", "into use"] and "2 deaths, 2 into use" in figure.layout.title.text


def test_a_metrics_file_keeps_its_count_lists_and_drops_damaged_ones(tmp_path):
    lines = [EPOCHS[0], {"kind": "epoch", "epoch": 2, "code_usage": [1, -3]}, {"kind": "epoch", "code_usage": "x"}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert RunFolder(tmp_path).metrics() == [EPOCHS[0]]
