"""The dashboard's figures: they show the numbers they are given, for every run."""

import math

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


def test_log_axes_label_decades_or_1_2_5_values_as_numbers_and_leave_minor_ticks_unlabelled():
    falling = [{"step": s, "recon": 0.9 * 0.5 ** s} for s in range(1, 10)]  # 0.45 down to 0.0018
    narrow = [{"step": s, "recon": 0.031 + 0.001 * s} for s in range(1, 15)]  # 0.032 to 0.045: under a factor 2
    for records in (falling, narrow):
        axis = curves({"run": records}, "recon", "reconstruction loss", log_y=True).layout.yaxis
        assert axis.type == "log" and axis.dtick not in ("D1", "D2")  # Plotly's own: digits labelled "2", "5"
        assert axis.tickmode == "array" and len(axis.tickvals) >= 2
        assert [float(text) for text in axis.ticktext] == list(axis.tickvals)  # each label reads as its value
        assert axis.minor.ticks and axis.minor.dtick  # the digits in between: ticks, which Plotly never labels
    values = curves({"run": falling}, "recon", "", log_y=True).layout.yaxis.tickvals
    assert {f"{v:e}"[0] for v in values} <= {"1", "2", "5"}  # decades or 1-2-5, nothing else labelled


def test_a_single_point_sits_inside_a_readable_range_on_both_axes():
    one_epoch = [{"kind": "epoch", "epoch": 1, "step": 250, "val_psnr": 281.7}]
    for log_y in (False, True):
        layout = curves({"short": one_epoch}, "val_psnr", "held-out PSNR (dB)", log_y=log_y).layout
        y = math.log10(281.7) if log_y else 281.7  # a log axis ranges in decades
        for (low, high), at in ((layout.xaxis.range, 250), (layout.yaxis.range, y)):
            width = high - low
            assert 0 < width < float("inf") and low + 0.1 * width <= at <= high - 0.1 * width
        assert layout.xaxis.range[0] <= 0  # the step is read from the start of training
        assert layout.yaxis.range[1] - layout.yaxis.range[0] >= (0.05 * 281.7 if not log_y else 0.5)


def test_each_model_keeps_one_distinct_colour_on_curves_and_usage_bars():
    from vqvae.dashboard.plots import PALETTE, model_colours

    labels = ["A: plain", "B: ema", "C: fsq", "D: reset"]
    series = {label: [{"step": 1, "recon": 0.5 + n}, {"step": 2, "recon": 0.4 + n}] for n, label in enumerate(labels)}
    lines = curves(series, "recon", "").data
    colours = {line.name: line.line.color for line in lines}
    assert len(set(colours.values())) == 4 and set(colours.values()) <= set(PALETTE)
    assert colours == {line.name: line.marker.color for line in lines}
    assert len({line.line.dash for line in lines}) == 4 and len({line.marker.symbol for line in lines}) == 4
    bars = usage_bars({label: torch.tensor([3, 1, 0]) for label in labels}).data
    assert {bar.name: bar.marker.color for bar in bars} == colours == model_colours(labels)


def test_a_baseline_takes_its_models_colour_and_a_page_can_pin_colours_across_charts():
    from vqvae.dashboard.plots import model_colours

    series = {"A: prior": [{"step": 5, "val_nll": 3.0}], "B: prior": [{"step": 5, "val_nll": 2.5}],
              "A: prior: uniform over K": [{"step": 5, "val_nll": 4.8}]}
    lines = {line.name: line for line in curves(series, "val_nll", "").data}
    assert lines["A: prior: uniform over K"].line.color == lines["A: prior"].line.color != lines["B: prior"].line.color
    assert lines["A: prior: uniform over K"].line.dash != lines["A: prior"].line.dash
    pinned = model_colours(["A: x", "B: y"])  # the page's order; this chart only has B
    assert curves({"B: y": series["B: prior"]}, "val_nll", "", colours=pinned).data[0].line.color == pinned["B: y"]
    assert usage_bars({"B: y": torch.tensor([1])}, colours=pinned).data[0].marker.color == pinned["B: y"]


def test_the_linked_view_holds_both_pictures_and_every_cell_of_the_grid():
    import base64
    import io
    import re

    from PIL import Image

    from vqvae.dashboard.linked_view import linked_view_html

    codes = torch.arange(12).reshape(3, 4)
    original, reconstruction = torch.rand(3, 12, 16), torch.rand(3, 12, 16)
    page = linked_view_html(original, reconstruction, codes, width=160)
    pictures = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pictures) == 2
    assert Image.open(io.BytesIO(base64.b64decode(pictures[0]))).size == (16, 12)  # the picture itself, crisp
    assert page.count('<div style="background:') == 12  # one cell a code, coloured
    assert '"h": 3, "w": 4' in page and '"codes": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]' in page
    assert 'width:160px;height:120px' in page  # the three at one size, the picture's shape kept
