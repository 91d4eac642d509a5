"""Plotly figures the dashboard shows: code maps, code-usage bars, training curves.

Pure functions of tensors and metric records, so they are tested without a browser and
every page draws the same quantity the same way.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

MARGIN = dict(l=0, r=0, t=30, b=0)


MAX_LABELLED_SIDE = 16  # a wider grid (a full-size upload's 64 x 48, say) turns printed ids into noise


def code_map(codes: torch.Tensor, usage: torch.Tensor | None = None, title: str = "",
             marked: torch.Tensor | None = None) -> go.Figure:
    """A code grid [h, w] as a heatmap with each code id printed in its cell (up to
    MAX_LABELLED_SIDE cells a side); hover shows the code id and, given the held-out usage
    counts [K], how often that code is used. Every cell carries a clickable point (x column,
    y row) for a page that selects cells; cells marked [h, w] (bool) are outlined."""
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
    if marked is not None and marked.any():
        at = marked.detach().cpu().numpy().nonzero()
        figure.add_scatter(x=at[1], y=at[0], mode="markers", showlegend=False, hoverinfo="skip",
                           marker=dict(size=max(6, 240 // max(grid.shape)), symbol="square-open", color="#d62728",
                                       line=dict(width=3)))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(margin=MARGIN, title=title or f"{grid.shape[0]} x {grid.shape[1]} codes",
                         clickmode="event+select")
    return figure


def entropy_map(entropy: torch.Tensor, next_position: tuple[int, int] | None, codebook_size: int) -> go.Figure:
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
    figure.update_layout(margin=MARGIN, title="how sure the prior was at each position", plot_bgcolor="#e6e6e6")
    return figure


def walk_changes(changed: list[int], grid_cells: int) -> go.Figure:
    """Bars: how many of the grid's codes change between each pair of neighbouring steps of a walk."""
    figure = go.Figure(go.Bar(x=[f"{s} -> {s + 1}" for s in range(len(changed))], y=changed,
                              hovertemplate="steps %{x}: %{y} codes change<extra></extra>"))
    figure.update_layout(margin=MARGIN, title=f"codes that change between neighbouring steps (of {grid_cells})",
                         yaxis_title="codes", height=260)
    return figure


MAX_BARS = 1024  # a larger codebook shows its most used codes: more bars than pixels say nothing


def usage_bars(usages: dict[str, torch.Tensor], title: str = "code usage on held-out data") -> go.Figure:
    """One bar per code (sorted from most to least used) for each labelled usage histogram [K],
    overlaid on shared axes; unused (dead) codes sit at zero on the right. Beyond MAX_BARS
    codes, the MAX_BARS most used are drawn and the title says so."""
    figure = go.Figure()
    largest = max((len(c) for c in usages.values()), default=0)
    if largest > MAX_BARS:
        title += f" (the {MAX_BARS:,} most used of {largest:,} codes)"
    for label, counts in usages.items():
        counts = counts.detach().cpu()
        order = torch.argsort(counts, descending=True, stable=True)[:MAX_BARS]
        share = (counts[order].double() / max(int(counts.sum()), 1) * 100).numpy()
        figure.add_bar(x=np.arange(len(order)), y=share, name=label, customdata=order.numpy(), opacity=0.7,
                       hovertemplate="code %{customdata}: %{y:.2f}% of positions<extra>" + label + "</extra>")
    figure.update_layout(barmode="overlay", margin=MARGIN, title=title, xaxis_title="codes, most used first",
                         yaxis_title="% of positions", legend=dict(orientation="h", y=-0.2))
    return figure


def curves(series: dict[str, list[dict]], key: str, title: str, x: str = "step", log_y: bool = False) -> go.Figure:
    """One line per labelled run: `key` against `x` from its metric records (records without
    `key` are skipped), on shared axes so runs overlay."""
    figure = go.Figure()
    for label, records in series.items():
        points = [(r[x], r[key]) for r in records if r.get(key) is not None and r.get(x) is not None]
        if points:
            xs, ys = zip(*points)
            figure.add_scatter(x=xs, y=ys, mode="lines+markers" if len(points) < 30 else "lines", name=label)
    figure.update_layout(margin=MARGIN, title=title, xaxis_title=x, legend=dict(orientation="h", y=-0.25),
                         height=300)
    if log_y:
        figure.update_yaxes(type="log")
    return figure
