"""A picture's codes as a real file, on the Reconstruct page: its size, where its bits go
(the surprise map: -log2 p of each code under the prior) and one rate-distortion plot, this
model's point beside JPEG's and WebP's curves on the same picture."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from vqvae.dashboard.plots import MARGIN, PALETTE
from vqvae.training.rate_distortion import Weighed

FORMAT_TITLES = {"jpeg": "JPEG", "webp": "WebP"}


def surprise_map(surprise: torch.Tensor, title: str) -> go.Figure:
    """Bits [h, w] spent at each position of a code grid, row 0 on top."""
    grid = surprise.float().numpy()
    figure = go.Figure(go.Heatmap(z=grid, colorscale="Viridis", zmin=0, colorbar=dict(title="bits", thickness=10),
                                  hovertemplate="row %{y}, column %{x}<br>%{z:.1f} bits<extra></extra>"))
    figure.update_yaxes(scaleanchor="x", constrain="domain", showticklabels=False, range=[grid.shape[0] - 0.5, -0.5])
    figure.update_xaxes(constrain="domain", showticklabels=False, range=[-0.5, grid.shape[1] - 0.5])
    figure.update_layout(margin=MARGIN, title=title, height=300)
    return figure


def rate_distortion(weighed: Weighed, curves: dict[str, list[dict]], headers: bool = True) -> go.Figure:
    """PSNR against file size (log): JPEG's and WebP's qualities as curves, this model's file
    as one point. headers=False counts only the bytes that code the pixels."""
    size = "bytes" if headers else "payload_bytes"
    figure = go.Figure()
    for n, (fmt, points) in enumerate(curves.items()):
        figure.add_scatter(x=[p[size] for p in points], y=[p["psnr"] for p in points], mode="lines+markers",
                           name=FORMAT_TITLES[fmt], line=dict(color=PALETTE[n + 1]),
                           customdata=[p["quality"] for p in points],
                           hovertemplate=f"{FORMAT_TITLES[fmt]} quality %{{customdata}}<br>%{{x:,}} bytes, "
                                         "%{y:.2f} dB<extra></extra>")
    ours = weighed.file_bytes - (0 if headers else weighed.header_bytes)
    figure.add_scatter(x=[ours], y=[weighed.psnr], mode="markers", name="this model + its prior",
                       marker=dict(symbol="star", size=16, color=PALETTE[0]),
                       hovertemplate="this model's file<br>%{x:,} bytes, %{y:.2f} dB<extra></extra>")
    figure.update_xaxes(type="log", title="file size (bytes)" if headers else "bytes without the headers")
    figure.update_yaxes(title="PSNR (dB)")
    figure.update_layout(margin=MARGIN, title="rate and distortion on this picture", height=340,
                         legend=dict(orientation="h", y=-0.25))
    return figure


def show(weighed: Weighed, curves: dict[str, list[dict]], class_title=str, where=st) -> None:
    """The codec's numbers, the surprise map(s) and the rate-distortion plot; class_title
    names the class the codes were coded as."""
    s = weighed.summary()
    cols = where.columns(4)
    cols[0].metric("Coded file", f"{weighed.file_bytes:,} bytes",
                   f"{s['prior_bits']:,.0f} bits under the prior", delta_color="off", delta_arrow="off",
                   help=f"the codes entropy-coded with the prior, plus a {weighed.header_bytes}-byte header (python -m "
                        "vqvae compress writes this file)")
    cols[1].metric("Without the prior", f"{s['fixed_rate_bits'] / 8:,.0f} bytes", f"{s['fixed_rate_bits']:,.0f} bits",
                   delta_color="off", delta_arrow="off", help="every code at log2 K bits: what the prior saves")
    for col, fmt in zip(cols[2:], ("jpeg", "webp")):
        at = s[fmt]
        value = f"{at['bytes']:,.0f} bytes" if at["above"] else "never"
        col.metric(f"{FORMAT_TITLES[fmt]} at {weighed.psnr:.1f} dB", value,
                   help=f"{FORMAT_TITLES[fmt]} at the quality that reaches this reconstruction's PSNR on the same "
                        "picture (between the two neighbouring qualities)" if at["above"] else
                        f"no {FORMAT_TITLES[fmt]} quality reaches {weighed.psnr:.1f} dB on this picture")
    left, right = where.columns(2)
    grids = [("bottom", weighed.coded.surprise)] if weighed.coded.top_surprise is None else [
        ("top", weighed.coded.top_surprise), ("bottom", weighed.coded.surprise)]
    for name, surprise in grids:
        of = f"{name} grid: " if len(grids) == 2 else ""
        left.plotly_chart(surprise_map(surprise, f"{of}bits at each position ({float(surprise.sum()):,.0f} in all)"),
                          width="stretch")
    headers = right.toggle("Count the formats' headers", True, key="codec-headers",
                           help="off: only the bytes that code the pixels (a small picture's JPEG is mostly header)")
    right.plotly_chart(rate_distortion(weighed, curves, headers), width="stretch")
    label = weighed.coded.label
    label = f", coded as {class_title(label)} (the class the prior finds cheapest)" if label is not None else ""
    where.caption(f"The picture's own codes (not your edits){label}; PNG keeps every pixel in {s['png_bytes']:,} bytes. "
                  "JPEG and WebP are measured on the picture as the model sees it, by Pillow.")
