"""Plotly figures the dashboard shows: code maps, code-usage bars, training curves.

Pure functions of tensors and metric records, so they are tested without a browser and
every page draws the same quantity the same way.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

MARGIN = dict(l=0, r=0, t=30, b=0)

# Okabe-Ito's colour-blind-safe colours without its yellow (too light on white), ordered so the
# first few are as far apart as possible: the n-th model on a page takes the n-th colour on every chart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")  # lines told apart without colour
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "triangle-down", "star", "cross")


def colour_of(index: int) -> str:
    """The colour of the model at `index` in a page's label order (PALETTE, cycled past its end)."""
    return PALETTE[index % len(PALETTE)]


def model_colours(labels: list[str]) -> dict[str, str]:
    """label -> colour by position, as curves and usage_bars colour the same labels: for a page
    to colour other things (table rows, captions) to match its charts."""
    return {label: colour_of(n) for n, label in enumerate(dict.fromkeys(labels))}


def series_styles(labels: list[str], colours: dict[str, str] | None = None) -> dict[str, tuple[str, str, str]]:
    """label -> (colour, line dash, marker symbol): a label takes the style of its position
    among the models, those labels that do not extend an earlier one; a label that does
    ("A: run: its baseline" after "A: run") shares that model's colour with a dash and symbol
    of its own. `colours` (label -> colour) overrides a model's colour."""
    colours = colours or {}
    styles: dict[str, tuple[str, str, str]] = {}
    models: list[str] = []
    derived: dict[str, int] = {}
    for label in dict.fromkeys(labels):
        parent = max((m for m in models if label.startswith(m + ": ")), key=len, default=None)
        if parent is None:
            n = len(models)
            models.append(label)
            styles[label] = (colours.get(label, colour_of(n)), DASHES[n % len(DASHES)], SYMBOLS[n % len(SYMBOLS)])
        else:
            derived[parent] = derived.get(parent, 0) + 1
            n, k = models.index(parent), derived[parent]
            styles[label] = (styles[parent][0], DASHES[(n + k) % len(DASHES)], SYMBOLS[(n + k) % len(SYMBOLS)])
    return styles


MAX_LABELLED_SIDE = 16  # a wider grid (a full-size upload's 64 x 48, say) turns printed ids into noise


EDITED, SELECTED = "#D55E00", "#0072B2"  # an edited cell, the selected cell (the palette's vermilion and blue)


def selected_points(event) -> list:
    """The points of a plotly_chart selection event as session state holds it ([] when none)."""
    try:
        return list(event["selection"]["points"])
    except (KeyError, TypeError):
        return []


def code_map(codes: torch.Tensor, usage: torch.Tensor | None = None, title: str = "",
             marked: torch.Tensor | None = None, selected: tuple[int, int] | None = None) -> go.Figure:
    """A code grid [h, w] as a heatmap with each code id printed in its cell (up to
    MAX_LABELLED_SIDE cells a side); hover shows the code id and, given the held-out usage
    counts [K], how often that code is used. Every cell carries a clickable point (x column,
    y row) for a page that selects cells; cells marked [h, w] (bool) are outlined, and the
    selected (row, column) framed."""
    grid = codes.detach().cpu().numpy()
    rows, columns = np.indices(grid.shape)
    hover = "row %{y}, column %{x}<br>code %{customdata[0]}"
    custom = grid.reshape(-1, 1)
    if usage is not None:
        counts = usage.detach().cpu().numpy()
        share = counts / max(int(counts.sum()), 1)
        custom = np.stack([grid, counts[grid], 100 * share[grid]], axis=-1).reshape(-1, 3)
        hover += "<br>used %{customdata[1]:,} times on held-out data (%{customdata[2]:.2f}%)"
    figure = go.Figure(go.Heatmap(z=grid, colorscale="Viridis", showscale=False, hoverinfo="skip",
                                  texttemplate="%{z}" if max(grid.shape) <= MAX_LABELLED_SIDE else None))
    # A heatmap cell cannot be selected in Streamlit, a scatter point can: one invisible point per
    # cell, which also carries the hover (a point that skips hover cannot be clicked either).
    figure.add_scatter(x=columns.ravel(), y=rows.ravel(), mode="markers", showlegend=False, customdata=custom,
                       hovertemplate=hover + "<extra></extra>",
                       marker=dict(size=max(6, 240 // max(grid.shape)), symbol="square", color="rgba(0,0,0,0)"))
    # Outlines as rectangles in the grid's own coordinates: they scale with the cells at any grid size.
    if marked is not None and marked.any():
        for row, column in zip(*marked.detach().cpu().numpy().nonzero()):
            figure.add_shape(type="rect", x0=column - 0.45, x1=column + 0.45, y0=row - 0.45, y1=row + 0.45,
                             line=dict(color=EDITED, width=2))
    if selected is not None and 0 <= selected[0] < grid.shape[0] and 0 <= selected[1] < grid.shape[1]:
        row, column = selected
        figure.add_shape(type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5,
                         line=dict(color=SELECTED, width=4))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(margin=MARGIN, title=title or f"{grid.shape[0]} x {grid.shape[1]} codes",
                         clickmode="event+select")
    return figure


def entropy_map(entropy: torch.Tensor, next_position: tuple[int, int] | None, codebook_size: int,
                title: str | None = None) -> go.Figure:
    """The entropy [h, w] (nats; NaN where nothing is drawn yet) of the distribution each code
    was drawn from, on a scale from 0 (certain) to ln K (uniform), the next position marked."""
    grid = entropy.numpy()
    figure = go.Figure(go.Heatmap(z=grid, zmin=0, zmax=float(np.log(codebook_size)), colorscale="Magma",
                                  colorbar=dict(title="nats", thickness=10),
                                  hovertemplate="row %{y}, column %{x}<br>entropy %{z:.2f} nats<extra></extra>"))
    if next_position is not None:
        figure.add_scatter(x=[next_position[1]], y=[next_position[0]], mode="markers", showlegend=False,
                           marker=dict(symbol="square-open", size=14, color="#1f77b4", line=dict(width=3)),
                           hovertemplate="next: row %{y}, column %{x}<extra></extra>")
    figure.update_yaxes(scaleanchor="x", constrain="domain", showticklabels=False, showgrid=False, zeroline=False,
                        range=[grid.shape[0] - 0.5, -0.5])  # row 0 on top
    figure.update_xaxes(constrain="domain", showticklabels=False, showgrid=False, zeroline=False,
                        range=[-0.5, grid.shape[1] - 0.5])
    # positions not drawn yet (NaN) show the grey background
    figure.update_layout(margin=MARGIN, title=title or "how sure the prior was at each position", plot_bgcolor="#e6e6e6")
    return figure


def walk_changes(changed: list[int], grid_cells: int) -> go.Figure:
    """Bars: how many of the grid's codes change between each pair of neighbouring steps of a walk."""
    figure = go.Figure(go.Bar(x=[f"{s} -> {s + 1}" for s in range(len(changed))], y=changed,
                              hovertemplate="steps %{x}: %{y} codes change<extra></extra>"))
    figure.update_layout(margin=MARGIN, title=f"codes that change between neighbouring steps (of {grid_cells})",
                         yaxis_title="codes", height=260)
    return figure


MAX_BARS = 1024  # a larger codebook shows its most used codes: more bars than pixels say nothing


def usage_bars(usages: dict[str, torch.Tensor], title: str = "code usage on held-out data",
               colours: dict[str, str] | None = None) -> go.Figure:
    """One bar per code (sorted from most to least used) for each labelled usage histogram [K],
    overlaid on shared axes; unused (dead) codes sit at zero on the right. Beyond MAX_BARS
    codes, the MAX_BARS most used are drawn and the title says so. Each label takes the colour
    of its position (`model_colours`), as on the curves; `colours` (label -> colour) overrides."""
    figure = go.Figure()
    palette = {**model_colours(list(usages)), **(colours or {})}
    largest = max((len(c) for c in usages.values()), default=0)
    if largest > MAX_BARS:
        title += f" (the {MAX_BARS:,} most used of {largest:,} codes)"
    for label, counts in usages.items():
        counts = counts.detach().cpu()
        order = torch.argsort(counts, descending=True, stable=True)[:MAX_BARS]
        share = (counts[order].double() / max(int(counts.sum()), 1) * 100).numpy()
        figure.add_bar(x=np.arange(len(order)), y=share, name=label, customdata=order.numpy(), opacity=0.7,
                       marker_color=palette[label],
                       hovertemplate="code %{customdata}: %{y:.2f}% of positions<extra>" + label + "</extra>")
    figure.update_layout(barmode="overlay", margin=MARGIN, title=title, xaxis_title="codes, most used first",
                         yaxis_title="% of positions", legend=dict(orientation="h", y=-0.2))
    return figure


def curves(series: dict[str, list[dict]], key: str, title: str, x: str = "step", log_y: bool = False,
           colours: dict[str, str] | None = None) -> go.Figure:
    """One line per labelled run: `key` against `x` from its metric records (records without
    `key` are skipped), on shared axes so runs overlay. Epoch records carry "step" too, so the
    default x puts held-out metrics on the same axis as the training steps.

    Each run keeps the colour, dash and marker of its position in `series` (see `series_styles`;
    `colours`, label -> colour, e.g. from `model_colours`, overrides the colours so a page keeps
    them equal to another chart's); a series whose label extends an earlier one's ("A: run: a
    baseline") takes that run's colour with a dash of its own. An axis whose points all share
    one value (a run with a single epoch) gets a range around it rather than Plotly's
    degenerate one; a log y axis labels decades or 1-2-5 values as numbers, with unlabelled
    minor ticks."""
    figure = go.Figure()
    styles = series_styles(list(series), colours)
    all_x, all_y = [], []
    for label, records in series.items():
        points = [(r[x], r[key]) for r in records if r.get(key) is not None and r.get(x) is not None]
        if points:
            xs, ys = zip(*points)
            all_x += xs
            all_y += ys
            colour, dash, symbol = styles[label]
            mode = "markers" if len(points) == 1 else "lines+markers" if len(points) < 30 else "lines"
            figure.add_scatter(x=xs, y=ys, mode=mode, name=label, line=dict(color=colour, dash=dash),
                               marker=dict(color=colour, symbol=symbol, size=10 if len(points) == 1 else 6))
    figure.update_layout(margin=MARGIN, title=title, xaxis_title=x, legend=dict(orientation="h", y=-0.25),
                         height=300)
    if len(set(all_x)) == 1:  # one step: from the start of training to a little past it
        at = float(all_x[0])
        figure.update_xaxes(range=[0.0, 1.25 * at] if at > 0 else [at - 1.0, at + 1.0])
    positive = [float(v) for v in all_y if v > 0]
    if log_y:
        figure.update_yaxes(type="log", minor=dict(ticks="outside", ticklen=3, dtick="D1", showgrid=True,
                                                   gridcolor="rgba(128,128,128,0.1)"))
        if positive:
            low, high = np.log10(min(positive)), np.log10(max(positive))
            if len(set(positive)) == 1:  # range is in decades on a log axis
                low, high = low - 0.5, high + 0.5
                figure.update_yaxes(range=[low, high])
            values = log_ticks(low, high)
            figure.update_yaxes(tickmode="array", tickvals=values, ticktext=[tick_text(v) for v in values])
    elif len(set(all_y)) == 1:
        at = float(all_y[0])
        pad = 0.05 * abs(at) or 1.0
        figure.update_yaxes(range=[at - pad, at + pad])
    return figure


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis spanning 10**low .. 10**high: decades where that gives three
    or more ticks, else 1-2-5 values, else every digit, else evenly spaced round values (a span
    of less than a factor of about 1.5)."""
    span = high - low
    low, high = low - 0.03 * span, high + 0.03 * span
    for mantissas in ((1,), (1, 2, 5), tuple(range(1, 10))):
        values = [float(f"{m}e{e}") for e in range(int(np.floor(low)), int(np.ceil(high)) + 1) for m in mantissas]
        values = [v for v in values if low <= np.log10(v) <= high]
        if len(values) >= 3:
            return values
    bottom, top = 10 ** low, 10 ** high
    step = nice_step((top - bottom) / 4)
    return [float(f"{n * step:.12g}") for n in range(int(np.ceil(bottom / step)), int(np.floor(top / step)) + 1)]


def nice_step(rough: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at least `rough`."""
    power = 10.0 ** np.floor(np.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def tick_text(value: float) -> str:
    """A tick value as it reads: 0.01, 0.5, 1, 20, 1000; 1e-05 and 1e+06 beyond."""
    return f"{value:.6g}"
