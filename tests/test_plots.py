"""The dashboard's figures: they show the numbers they are given, for every run."""

import torch

from vqvae.dashboard.plots import code_map, curves, usage_bars


def test_curves_draw_one_line_per_run_from_the_records_that_hold_the_metric():
    a = [{"step": 10, "recon": 0.5}, {"step": 20, "recon": 0.25}, {"step": 20, "val_psnr": 18.0}]
    b = [{"step": 10, "recon": 0.7}]
    figure = curves({"run a": a, "run b": b, "empty": []}, "recon", "reconstruction loss")
    lines = {trace.name: (list(trace.x), list(trace.y)) for trace in figure.data}
    assert lines == {"run a": ([10, 20], [0.5, 0.25]), "run b": ([10], [0.7])}


def test_code_map_hover_names_each_code_and_its_held_out_usage():
    codes = torch.tensor([[0, 2], [2, 1]])
    usage = torch.tensor([5, 0, 15])
    heatmap, cells = code_map(codes, usage).data
    assert heatmap.z.tolist() == [[0, 2], [2, 1]]
    assert (cells.x[1], cells.y[1]) == (1, 0)  # one clickable point per cell: (column, row)
    assert cells.customdata[1].tolist() == [2, 15, 75.0]  # code 2: used 15 of 20 times
    assert "code %{customdata[0]}" in cells.hovertemplate and "held-out" in cells.hovertemplate


def test_usage_bars_sort_codes_by_use_and_leave_dead_codes_at_zero():
    bars = usage_bars({"plain": torch.tensor([1, 0, 3])}).data[0]
    assert list(bars.customdata) == [2, 0, 1]  # code ids, most used first
    assert list(bars.y) == [75.0, 25.0, 0.0]


def test_code_ids_are_printed_on_small_grids_and_left_to_hover_on_large_ones():
    assert code_map(torch.zeros(16, 16, dtype=torch.long)).data[0].texttemplate == "%{z}"  # a Pokémon grid
    wide = code_map(torch.zeros(48, 64, dtype=torch.long)).data[0]  # a full-size upload's grid
    assert wide.texttemplate is None and len(code_map(torch.zeros(48, 64, dtype=torch.long)).data[1].x) == 48 * 64


def test_the_entropy_map_leaves_undrawn_positions_blank_and_marks_the_next_one():
    from vqvae.dashboard.plots import entropy_map

    entropy = torch.full((3, 4), float("nan"))
    entropy[0, :2] = torch.tensor([0.5, 2.0])
    figure = entropy_map(entropy, (0, 2), 128)
    heatmap, marker = figure.data
    assert heatmap.zmin == 0 and abs(heatmap.zmax - 4.852) < 1e-3  # from certain to uniform over K = 128
    assert heatmap.z[0][1] == 2.0 and all(v != v for v in heatmap.z[1])  # NaN: not drawn yet
    assert (list(marker.x), list(marker.y)) == ([2], [0])
    assert len(entropy_map(entropy, None, 128).data) == 1  # a finished grid has no next position
