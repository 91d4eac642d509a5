"""Looking at a codebook: every code decoded alone (the atlas), and the code vectors shown
among the encoder outputs they quantise (a 2-D projection).

What a student should see: codes are cluster centres of the encoder outputs, a dead code
sits away from the data, and each code paints its own small patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from einops import rearrange
from plotly.colors import qualitative

from vqvae.models.autoencoder import ENCODE_BATCH, VQVAE
from vqvae.models.code_search import nearest_code
from vqvae.models.metrics import code_usage

# 48 distinct colours; code k gets PALETTE[k % 48]. With K > 48 colours repeat, so the
# hover, not the colour, names a code; the colour only ties a cluster to its centre.
PALETTE = qualitative.Dark24 + qualitative.Light24
# Markers are coloured by number through this scale (stop i is PALETTE[i]), not by a colour
# name each: plotly checks every name against a pattern, 0.3 s for 5,000 points.
PALETTE_SCALE = [[i / (len(PALETTE) - 1), colour] for i, colour in enumerate(PALETTE)]
DEAD_COLOUR = "#d62728"
MARGIN = dict(l=0, r=0, t=40, b=0)


def atlas(model: VQVAE, grid: int = 1, codes: torch.Tensor | None = None, level: str = "bottom") -> torch.Tensor:
    """Each code decoded alone, as a grid x grid map filled with that code.

    codes [N] (default: every code, in id order) -> tiles [N, C, grid * f, grid * f] in
    [0, 1] on the CPU, f the model's downsampling. grid = 1 shows the patch one code paints;
    a larger grid shows it repeated, as the decoder paints it among copies of itself (a conv
    decoder blends neighbouring codes, so a lone code paints only a faint patch). A two-level
    model's `level` ("bottom" or "top") is decoded with the other at its mean code.
    """
    model.eval()
    if codes is not None:
        codes = codes.to(model.codebook.device)
    if model.config.levels == 2:
        return model.decode_codes(codes, grid=grid, level=level).cpu()
    return model.decode_codes(codes, grid=grid).cpu()


def usage_order(usage: torch.Tensor) -> torch.Tensor:
    """Code ids [K] from most to least used (ties by id), for usage counts [K]."""
    return torch.sort(usage.cpu(), descending=True, stable=True).indices


def enlarge(tiles: torch.Tensor, pixels: int = 32) -> torch.Tensor:
    """Tiles [N, C, s, s] -> [N, C, S, S] with S the largest multiple of s not above `pixels`
    (at least s), by repeating pixels: a 4-pixel tile stays crisp instead of being blurred
    by the browser's scaling."""
    return enlarge_by(tiles, max(1, pixels // tiles.shape[-1]))


def enlarge_by(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Images [..., H, W] -> [..., factor * H, factor * W], each pixel repeated (nearest neighbour)."""
    return images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def frame(tiles: torch.Tensor, marked: torch.Tensor, colour: tuple[float, float, float] = (0.84, 0.15, 0.16),
          width: int = 2) -> torch.Tensor:
    """Tiles [N, C, H, W] in [0, 1] -> RGB [N, 3, H, W] with a coloured border drawn inside
    each tile where marked [N] (bool) is set, e.g. the dead codes of the atlas."""
    rgb = tiles.expand(-1, 3, -1, -1).clone() if tiles.shape[1] == 1 else tiles.clone()
    border = torch.zeros(tiles.shape[-2:], dtype=torch.bool)
    border[:width], border[-width:], border[:, :width], border[:, -width:] = True, True, True, True
    paint = torch.tensor(colour, dtype=rgb.dtype).view(3, 1, 1).expand(3, *border.shape)
    for i in marked.nonzero().flatten().tolist():
        rgb[i] = torch.where(border, paint, rgb[i])
    return rgb


@dataclass
class Projection:
    """Code vectors and encoder outputs on the same two principal axes (numpy arrays).

    codes [K, 2]: each code vector's position.
    points [M, 2]: a random sample of the encoder outputs (M = min(max_points, N h w)).
    point_codes [M]: the nearest code of each sampled output (the code the model picks).
    point_index [M]: where each sample came from, a flat index into (image, row, column).
    explained [2]: share of the encoder outputs' variance along each axis.
    usage [K]: how often each code is nearest, over every encoder output (not only the sample).
    code_distance [K]: distance in the full D dimensions from each code to its nearest
        encoder output: a code that looks inside the cloud in 2-D may still be far from it.
    """

    codes: np.ndarray
    points: np.ndarray
    point_codes: np.ndarray
    point_index: np.ndarray
    explained: np.ndarray
    usage: np.ndarray
    code_distance: np.ndarray

    @property
    def dead(self) -> np.ndarray:
        """[K] bool: codes no encoder output chose."""
        return self.usage == 0


@torch.no_grad()
def encoder_outputs(model: VQVAE, images: torch.Tensor, batch_size: int = ENCODE_BATCH,
                    level: str = "bottom") -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, C, H, W] -> (encoder outputs as the codes see them [N h w, d] float32,
    their nearest codes [N h w]), both on the CPU in (image, row, column) order. The vectors
    are in the quantizer's search space (z_e itself for a plain or EMA codebook; normalised
    or projected for the cosine and low-dimensional ones, bounded for FSQ), so codes and
    outputs share one space; the codes are the ones model.encode picks. level: for a
    two-level model, the top level's outputs and codes instead of the bottom's."""
    model.eval()
    device = model.codebook.device
    quantizer = level_quantizer(model, level)
    vectors, codes = [], []
    for chunk in images.split(batch_size):
        pixels = chunk.to(device).float().div_(255)
        z_e = model.encode_continuous(pixels, "top") if level == "top" else model.encode_continuous(pixels)
        z = rearrange(z_e, "b d h w -> (b h w) d").float()
        vectors.append(quantizer.search_vectors(z).float().cpu())
        codes.append(quantizer.nearest(z).cpu())
    return torch.cat(vectors), torch.cat(codes)


def level_quantizer(model: VQVAE, level: str = "bottom"):
    """The quantizer of a level: a one-level model's only one is its bottom level."""
    return model.top_quantizer if level == "top" else model.quantizer


def principal_axes(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two leading principal axes of rows [N, D] -> (mean [D], axes [2, D], explained [2]),
    in float64. Each axis's largest loading is made positive, so the picture does not flip
    between runs or machines. With D = 1 the second axis is zero and explains nothing."""
    x = vectors.double()
    mean = x.mean(0)
    centred = x - mean
    # D is small (tens), so the D x D covariance is cheap and eigh on it is exact and deterministic.
    variances, directions = torch.linalg.eigh(centred.T @ centred / len(x))
    variances = variances.clamp_min(0)  # round-off can leave a tiny negative one
    order = variances.argsort(descending=True)[:2]
    axes = directions[:, order].T
    axes = axes * torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
    total = variances.sum()
    explained = variances[order] / total if total > 0 else torch.zeros_like(variances[order])
    if len(axes) < 2:
        axes = torch.cat([axes, torch.zeros_like(axes)])
        explained = torch.cat([explained, torch.zeros_like(explained)])
    return mean, axes, explained


def nearest_distance(targets: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """For each target [K, D], the Euclidean distance to the nearest of rows [N, D] -> [K]
    float64. The nearest row is found by the codes' own float32 search (nearest_code, in
    blocks whatever K is); only the K distances to the winners are then taken in float64. A
    float32 near-tie may pick a row a hair farther than the true nearest, far below what is shown."""
    nearest = nearest_code(targets, rows)
    return (targets.double() - rows[nearest].double()).norm(dim=1)


@torch.no_grad()
def project(model: VQVAE, images: torch.Tensor, max_points: int = 5000, seed: int = 0,
            level: str = "bottom") -> Projection:
    """The code vectors among the encoder outputs of uint8 images [N, C, H, W] (fitted to
    the model), on the two principal axes of the encoder outputs. Deterministic for a seed.

    The axes are fitted on the encoder outputs alone, not on outputs and codes together:
    the question is whether the codes sit where the data is, so the axes should show how the
    data spreads; a few dead codes far out would otherwise pull an axis toward themselves
    and squash the cloud. (Codes are so few next to the N h w outputs that fitting on both
    changes the axes little when all of them are live.) The price is that a code far away
    along a discarded direction can land inside the cloud: code_distance tells. level: a
    two-level model's top level instead of its bottom one.
    """
    vectors, nearest = encoder_outputs(model, images, level=level)
    codebook = level_quantizer(model, level).codebook.detach().float().cpu()
    mean, axes, explained = principal_axes(vectors)
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randperm(len(vectors), generator=generator)[: min(max_points, len(vectors))]

    def onto_axes(x: torch.Tensor) -> np.ndarray:
        return ((x.double() - mean) @ axes.T).float().numpy()

    return Projection(
        codes=onto_axes(codebook),
        points=onto_axes(vectors[sample]),
        point_codes=nearest[sample].numpy(),
        point_index=sample.numpy(),
        explained=explained.float().numpy(),
        usage=code_usage(nearest, len(codebook)).numpy(),
        code_distance=nearest_distance(codebook, vectors).float().numpy(),
    )


def code_colours(codes: np.ndarray) -> dict:
    """Marker settings that paint code k (and whatever belongs to it) in PALETTE[k % 48]."""
    return dict(color=np.asarray(codes) % len(PALETTE), colorscale=PALETTE_SCALE, cmin=0, cmax=len(PALETTE) - 1)


def projection_figure(projection: Projection, title: str = "code vectors among the encoder outputs") -> go.Figure:
    """A scatter of a Projection: encoder outputs as small translucent dots in the colour of
    their nearest code; live codes as outlined markers of the same colour, their area
    proportional to usage; dead codes as red crosses. Hover names code, usage and distance."""
    p = projection
    figure = go.Figure()
    figure.add_scatter(
        x=p.points[:, 0], y=p.points[:, 1], mode="markers", name="encoder outputs z_e",
        marker=dict(size=4, opacity=0.35, **code_colours(p.point_codes)), customdata=p.point_codes,
        hovertemplate="encoder output<br>nearest code %{customdata}<extra></extra>",
    )
    total = max(int(p.usage.sum()), 1)
    ids = np.arange(len(p.usage))
    # customdata: code id, uses, % of positions, distance to the nearest encoder output
    details = np.stack([ids, p.usage, 100 * p.usage / total, p.code_distance], axis=-1)
    hover = ("code %{customdata[0]}<br>used %{customdata[1]:,} times (%{customdata[2]:.2f}%)"
             "<br>%{customdata[3]:.3f} from the nearest encoder output<extra></extra>")
    live, dead = ~p.dead, p.dead
    # area, not radius, proportional to usage, so a code used 4x as often looks 4x as big
    sizes = 6 + 22 * np.sqrt(p.usage[live] / max(int(p.usage.max()), 1))
    figure.add_scatter(
        x=p.codes[live, 0], y=p.codes[live, 1], mode="markers", name="code vectors (size: usage)",
        marker=dict(size=sizes, **code_colours(ids[live]), line=dict(color="black", width=1)),
        customdata=details[live], hovertemplate=hover,
    )
    if dead.any():
        figure.add_scatter(
            x=p.codes[dead, 0], y=p.codes[dead, 1], mode="markers", name="dead codes (never used)",
            marker=dict(size=11, symbol="x", color=DEAD_COLOUR, line=dict(color=DEAD_COLOUR, width=1)),
            customdata=details[dead], hovertemplate=hover,
        )
    figure.update_xaxes(title=f"axis 1 ({100 * p.explained[0]:.0f}% of the variance)", zeroline=False)
    # equal scales: distances in the plot are distances on the plane
    figure.update_yaxes(title=f"axis 2 ({100 * p.explained[1]:.0f}%)", zeroline=False, scaleanchor="x")
    figure.update_layout(margin=MARGIN, title=title, height=560, legend=dict(orientation="h", y=-0.12))
    return figure
