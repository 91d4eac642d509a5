"""The fast sampler's work at one position: the horizontal stack and the head on buffers of
fixed shape, captured once as a CUDA graph and replayed, and the captured steps kept for the
next grid (vqvae.models.sampling.sample drives it)."""

from __future__ import annotations

import threading
import warnings
import weakref

import torch

from vqvae.models.pixelcnn import GatedPixelCNN, gate


class ColumnStep:
    """The horizontal stack and the head at one position, on buffers whose shapes never
    change: block l keeps the last k_l + 1 columns of its input row (all its kernel reads),
    so a position costs one column's work wherever it is, and on CUDA the whole step is
    captured once as a graph and replayed (one launch instead of dozens of small ones)."""

    def __init__(self, model: GatedPixelCNN, n: int, graphs: bool):
        self.model = model
        weight = model.embedding.weight
        c, blocks = weight.shape[1], len(model.blocks)
        like = dict(dtype=weight.dtype, device=weight.device)
        self.windows = [torch.zeros(n, c, 1, b.half + 1, **like) for b in model.blocks]
        self.above = torch.zeros(blocks, n, 2 * c, 1, 1, **like)  # each block's from_above at the current column
        self.conditions = torch.zeros(blocks, n, 2 * c, 1, 1, **like)  # each block's class embedding (0: none)
        self.not_first = torch.zeros((), **like)  # 0 at column 0, where mask A reads nothing
        self.graph = None
        if graphs:
            try:
                self.graph = self._capture()
            except RuntimeError as exc:  # a driver or build that cannot capture: the same work, eagerly
                warnings.warn(f"sampling without CUDA graphs ({exc})", RuntimeWarning, stacklevel=3)

    def _compute(self) -> torch.Tensor:
        column = None
        for l, block in enumerate(self.model.blocks):
            window = self.windows[l]
            if block.mask_a:  # columns j-1-k .. j-1 of the codes' embeddings, so no code sees itself
                h_pre = block.horizontal(window) * self.not_first
            else:  # columns j-k .. j of the previous block's output, column j just made
                window.copy_(torch.cat([window[..., 1:], column], dim=-1))
                h_pre = block.horizontal(window)
            h_out = block.horizontal_out(gate(h_pre + self.above[l] + self.conditions[l]))
            column = h_out if block.mask_a else window[..., -1:] + h_out
        return self.model.head(column)[:, :, 0, 0]

    def _capture(self):
        device = self.model.embedding.weight.device
        # Under autocast, its cache of weights cast to bf16 would be made outside the graph and
        # freed after it: the graph must make its own casts (cache off), as CUDA graphs ask.
        amp = torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), enabled=torch.is_autocast_enabled("cuda"),
                             cache_enabled=False)
        with torch.cuda.device(device):
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with amp, torch.cuda.stream(stream):  # warm-up off the capture, as CUDA graphs ask
                for _ in range(2):
                    self._compute()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            # thread_local: another session's thread may use the GPU while this one captures
            with amp, torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.logits = self._compute()
        return graph

    def start(self, conditions: list) -> None:
        """A new grid: each block's class embedding [N, 2C, 1, 1] (or 0)."""
        for l, condition in enumerate(conditions):
            if torch.is_tensor(condition):
                self.conditions[l].copy_(condition)
            else:
                self.conditions[l].zero_()

    def new_row(self, from_above: list[torch.Tensor]) -> None:
        self.from_above = torch.stack(from_above)  # [blocks, N, 2C, 1, w]: one copy a position, not one a block
        for window in self.windows:
            window.zero_()

    def __call__(self, j: int) -> torch.Tensor:
        """The logits [N, K] at column j of the current row."""
        self.above.copy_(self.from_above[..., j : j + 1])
        self.not_first.fill_(1.0 if j > 0 else 0.0)
        if self.graph is None:
            return self._compute()
        self.graph.replay()
        return self.logits

    def drawn(self, embedded: torch.Tensor) -> None:
        """The embedding [N, C] of the code just drawn: the first block reads it from the next column on."""
        window = self.windows[0]
        window.copy_(torch.cat([window[..., 1:], embedded[:, :, None, None]], dim=-1))


# Captured steps kept for the next grid of the same model and batch (capturing costs a device
# synchronisation and a garbage collection). A sampler takes one out and puts it back when it
# ends, so two sessions sampling the same model at once never share buffers.
_CAPTURED: "weakref.WeakKeyDictionary[GatedPixelCNN, dict[tuple, list[ColumnStep]]]" = weakref.WeakKeyDictionary()
_CAPTURED_LOCK = threading.Lock()


def captured_key(model: GatedPixelCNN, n: int) -> tuple:
    # The weights' addresses: a graph reads them where they were at capture (moved or cast: capture again).
    return (n, torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"),
            tuple(p.data_ptr() for p in model.parameters()))


def take_step(model: GatedPixelCNN, n: int, graphs: bool) -> tuple[ColumnStep, tuple | None]:
    if not graphs:
        return ColumnStep(model, n, graphs=False), None
    key = captured_key(model, n)
    with _CAPTURED_LOCK:
        kept = _CAPTURED.setdefault(model, {}).get(key)
        if kept:
            return kept.pop(), key
    return ColumnStep(model, n, graphs=True), key


def give_back(model: GatedPixelCNN, step: ColumnStep, key: tuple | None) -> None:
    if key is not None and step.graph is not None:
        with _CAPTURED_LOCK:
            _CAPTURED.setdefault(model, {}).setdefault(key, []).append(step)
