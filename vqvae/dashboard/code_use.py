"""Codebook use over time: how often each code was chosen on the held-out images at the end
of each epoch (the `code_usage` of metrics.jsonl's epoch lines), as one heatmap a run,
codes sorted by use, with the epochs a code died (used, then not) and came into use (first use, a dead-code
restart, or the codebook moving) marked."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vqvae.dashboard.plots import MARGIN

MAX_MARKS = 400  # more deaths and new uses than this are counted in the title, not drawn one by one


def usage_history(epochs: list[dict]) -> tuple[list[int], np.ndarray] | None:
    """(epoch numbers, counts [E, K]) from a run's epoch lines, or None when they hold no
    per-code use (runs trained before it was recorded) or disagree on K."""
    rows = [(r["epoch"], r["code_usage"]) for r in epochs if r.get("code_usage") and "epoch" in r]
    if not rows or len({len(counts) for _, counts in rows}) != 1:
        return None
    return [int(e) for e, _ in rows], np.asarray([counts for _, counts in rows], dtype=np.int64)


def changes(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(died, came back) [E, K] bool: a code unused at an epoch after being used at the one
    before, and used after being unused."""
    used = counts > 0
    died, back = np.zeros_like(used), np.zeros_like(used)
    died[1:], back[1:] = used[:-1] & ~used[1:], ~used[:-1] & used[1:]
    return died, back


def code_use_map(label: str, epochs: list[int], counts: np.ndarray) -> go.Figure:
    """The heatmap: epochs across, codes down (most used over the run first), colour the
    share of held-out positions (log scale; unused: the grey background)."""
    order = np.argsort(-counts.sum(0), kind="stable")
    counts = counts[:, order]
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    with np.errstate(divide="ignore"):
        z = np.where(counts > 0, np.log10(np.where(share > 0, share, 1)), np.nan).T  # [K, E]
    figure = go.Figure(go.Heatmap(
        x=epochs, y=np.arange(len(order)), z=z, colorscale="Viridis", customdata=np.broadcast_to(order[:, None], z.shape),
        colorbar=dict(title="share<br>(log10)", thickness=10),
        hovertemplate="epoch %{x}, code %{customdata}<br>10^%{z:.2f} of the positions<extra></extra>"))
    died, back = changes(counts)
    n_died, n_back = int(died.sum()), int(back.sum())
    for mask, name, symbol, colour in ((died, "died", "x-thin", "#D55E00"), (back, "into use", "circle-open", "#FFFFFF")):
        if 0 < mask.sum() <= MAX_MARKS:
            e, k = np.nonzero(mask)
            figure.add_scatter(x=np.asarray(epochs)[e], y=k, mode="markers", name=name,
                               marker=dict(symbol=symbol, size=7, color=colour, line=dict(width=2, color=colour)),
                               customdata=order[k], hovertemplate=f"epoch %{{x}}: code %{{customdata}} {name}<extra></extra>")
    figure.update_yaxes(title="codes, most used first", autorange="reversed", showticklabels=False)
    figure.update_xaxes(title="epoch", dtick=max(1, len(epochs) // 10))
    figure.update_layout(margin=MARGIN, height=320, plot_bgcolor="#e6e6e6", legend=dict(orientation="h", y=-0.25),
                         title=f"{label}: held-out code use by epoch ({n_died} deaths, {n_back} into use)")
    return figure
