"""The quantizer deciding, on the pages: each step of the nearest-code choice at one
position beside its formula, with the model's own numbers in it (vqvae.models.decision)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from vqvae.dashboard.plots import MARGIN, PALETTE
from vqvae.models.decision import Decision

# (held-out image, row, column) picked on Overview: the Codebook page's straight-through view shows the same
POSITION = "quantizer-position"


def distance_bars(decision: Decision) -> go.Figure:
    """Every code's squared distance to the vector, nearest first, the chosen one marked."""
    order = decision.order()
    distances = decision.distances[order].numpy()
    colours = [PALETTE[4] if int(k) == decision.chosen else "#9aa0a6" for k in order]
    figure = go.Figure(go.Bar(x=list(range(1, len(order) + 1)), y=distances, marker_color=colours,
                              customdata=order.numpy(),
                              hovertemplate="code %{customdata}: d = %{y:.4f}<br>rank %{x}<extra></extra>"))
    rank = int((order == decision.chosen).nonzero()[0, 0]) + 1  # a bar among K >= 128 is a hairline: point at it
    figure.add_annotation(x=rank, y=float(decision.distances[decision.chosen]), text=f"chosen: code {decision.chosen}",
                          showarrow=True, arrowcolor=PALETTE[4], font=dict(color=PALETTE[4]), ax=40, ay=-40)
    figure.update_layout(margin=MARGIN, height=260, bargap=0,
                         title=f"squared distance to each of the {len(order)} codes, nearest first (chosen: red)",
                         xaxis_title="codes, nearest first", yaxis_title="squared distance")
    return figure


def vector_bars(named: dict[str, torch.Tensor], title: str) -> go.Figure:
    """Vectors side by side, a bar a dimension."""
    figure = go.Figure()
    for n, (name, vector) in enumerate(named.items()):
        figure.add_bar(x=list(range(len(vector))), y=vector.numpy(), name=name, marker_color=PALETTE[n])
    figure.update_layout(margin=MARGIN, height=240, title=title, xaxis_title="dimension", barmode="group",
                         legend=dict(orientation="h", y=-0.3))
    return figure


def show_decision(decision: Decision, tile: torch.Tensor, where=st) -> None:
    """The search, the choice, the loss terms and (EMA) the update, or (FSQ) the rounding."""
    d, k = decision, decision.chosen
    order = d.order()
    runner_up = int(order[1]) if len(order) > 1 else k
    s = len(d.z)
    where.markdown(f"**1. Compare.** The encoder's vector at row {d.row}, column {d.column} ({len(d.z_e)} numbers) is "
                   f"compared with each of the {len(d.distances)} codes:")
    where.latex(rf"d_k = \lVert z - e_k \rVert^2:\quad d_{{{k}}} = {float(d.distances[k]):.4f},\ "
                rf"d_{{{runner_up}}} = {float(d.distances[runner_up]):.4f},\ \ldots,\ "
                rf"\max_k d_k = {float(d.distances.max()):.4f}")
    where.plotly_chart(distance_bars(d), width="stretch")
    left, right = where.columns([1, 3])
    left.image(tile.permute(1, 2, 0).numpy(), caption=f"code {k} decoded alone (3 x 3 of it)", width=120)
    right.markdown("**2. Choose.** The nearest code wins; the decoder gets its vector instead of the encoder's:")
    right.latex(rf"k^* = \arg\min_k d_k = {k}, \qquad z_q = e_{{{k}}}")
    where.plotly_chart(vector_bars({"z (the encoder's)": d.z, f"e_{k} (the code's)": d.code},
                                   "the vector and the code it becomes"), width="stretch")
    if d.bits is not None:
        show_bits(d, where)
    if d.stages is not None:
        show_stages(d, where)
    if d.fsq is not None:
        where.markdown("**3. No losses here**: FSQ's grid is fixed, so nothing pulls a code or the encoder; the "
                       "nearest grid point is simply the rounding of each bounded dimension:")
        show_rounding(d.fsq, where)
        return
    where.markdown("**3. The losses at this position** (each is the mean over the "
                   f"{s} dimensions; sg: no gradient through it):")
    where.latex(rf"\beta\,\lVert z - \mathrm{{sg}}[e_{{{k}}}] \rVert^2 / {s} = {d.beta:g} \times "
                rf"{d.squared_error:.4f} / {s} = {d.commitment_term:.6f}\quad\text{{(commitment: pulls the encoder)}}")
    if d.stages is not None:
        where.caption("For residual VQ each stage's terms are its own residual's: the squared error above is "
                      "the sum of the stages' (the table's last column, squared).")
    if d.bits is not None:
        where.caption("LFQ and BSQ add an entropy loss over the whole batch, not a position: it rewards confident "
                      "bits and codes spread over the codebook.")
    if d.codebook_term is not None:
        where.latex(rf"\lVert \mathrm{{sg}}[z] - e_{{{k}}} \rVert^2 / {s} = {d.codebook_term:.6f}"
                    r"\quad\text{(codebook: pulls the code)}")
    if d.ema_moved is not None:
        before, after = float((d.code - d.z).norm()), float((d.ema_moved - d.z).norm())
        where.markdown("**4. The EMA update.** No loss trains an EMA codebook: each step moves a code to the "
                       "running average of the vectors that chose it. With this vector alone as the batch:")
        where.latex(rf"e_{{{k}}} \leftarrow \frac{{\gamma\, m_{{{k}}} + (1-\gamma)\, z}}{{\tilde N_{{{k}}}}}:\quad "
                    rf"\lVert e_{{{k}}} - z \rVert = {before:.4f} \to {after:.4f}")


def show_bits(d: Decision, where=st) -> None:
    """LFQ's and BSQ's choice: no search, each dimension's sign is a bit of the code."""
    where.markdown("**The code is read off the signs**: no search is needed, since the nearest corner of the cube "
                   "has each dimension's sign; bit i is 1 where z_i > 0.")
    terms = " + ".join(rf"{bit} \cdot 2^{{{i}}}" for i, bit in enumerate(d.bits))
    where.latex(rf"k^* = \sum_i [z_i > 0]\, 2^i = {terms} = {d.chosen}")


def show_stages(d: Decision, where=st) -> None:
    """Residual VQ's choice: stage by stage, each codebook taking what the ones before left."""
    where.markdown("**Stage by stage**: each codebook takes the nearest code to what the ones before left; the "
                   "stage codes are the digits of the combined code (first stage lowest).")
    where.dataframe([{key: round(value, 4) if isinstance(value, float) else value for key, value in stage.items()}
                     for stage in d.stages], hide_index=True)
    size = round(len(d.distances) ** (1 / len(d.stages)))
    digits = " + ".join(rf"{stage['code']} \cdot {size}^{{{n}}}" for n, stage in enumerate(d.stages))
    where.latex(rf"k^* = {digits} = {d.chosen}")


def show_rounding(fsq: dict, where=st) -> None:
    """FSQ's step: each dimension bounded to its levels, then rounded."""
    where.latex(r"\hat z_i = \mathrm{round}\big(\tanh(z_i + s_i)\, h_i - o_i\big),\quad h_i = \tfrac{(L_i - 1)(1-\epsilon)}{2}")
    rows = [{"dimension": i, "levels L": level, "bounded": round(float(b), 4), "rounded": int(r)}
            for i, (level, b, r) in enumerate(zip(fsq["levels"], fsq["bounded"], fsq["rounded"]))]
    where.dataframe(rows, hide_index=True)


def show_straight_through(grads: dict[str, torch.Tensor], straight_through: str, where=st) -> None:
    """What the straight-through estimator passes back at one position."""
    at_q, at_e = grads["at_z_q"], grads["at_z_e"]
    gap = float((at_q - at_e).abs().max())
    where.latex(r"z_q = z_e + \mathrm{sg}[e_{k^*} - z_e] \;\Rightarrow\; "
                r"\frac{\partial L}{\partial z_e} = \frac{\partial L}{\partial z_q}")
    where.plotly_chart(vector_bars({"∂L/∂z_q (what the decoder asks)": at_q, "∂L/∂z_e (what the encoder gets)": at_e},
                                   "the reconstruction loss's gradient at this position"), width="stretch")
    if straight_through == "ze" and gap <= 1e-6 * max(float(at_q.abs().max()), 1e-12):
        why = "the same numbers: the rounding to the nearest code is skipped on the way back"
    elif straight_through == "rotation":
        why = "they differ: the rotation trick turns the gradient with the rotation that takes z_e to its code"
    elif straight_through == "fsq":
        why = "they differ by the bound's slope: the rounding passes the gradient unchanged, tanh scales it"
    elif straight_through == "bsq":
        why = "they differ by the projection onto the sphere: only the gradient along it reaches z_e"
    else:
        why = "they differ by how this codebook passes the gradient back"
    where.caption(f"Largest difference between the two: {gap:.2e} ({why}). In training the commitment term adds "
                  f"its own pull at z_e, {float(grads['commitment'].norm()):.2e} in size here, against "
                  f"{float(at_e.norm()):.2e} for the reconstruction's.")
