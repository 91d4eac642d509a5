"""A picture's codes as a file: entropy-coded with a prior, so the prior's probabilities
become real bytes.

The prior gives each code its probability given the codes before it (for two levels: the
top grid, then the bottom one given it). A range coder (constriction's) spends about
-log2 p bits on each, so the file is the prior's negative log-likelihood of the codes plus
a few bytes. Decoding runs the same prior through the same fast sampler, taking each code
from the coder instead of drawing it, so it sees the same probabilities and the codes
come back exactly. Both ends run on the CPU: the probabilities must agree to the last
bit, and one device's arithmetic is the same every time.

The file (little-endian): b"VQZ" and a format byte; the first 8 bytes of the prior's
fingerprint (so a decoder can find the prior and refuse another); the bottom grid's height
and width; the picture's own height and width inside the padded grid; the class the
codes were coded as (0xFFFF: none); a byte of flags (INVERTED); the CRC-32 of the rest
of the file (a damaged file is refused, not decoded into another picture); then the range
coder's 32-bit words.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from vqvae.errors import VQVAEError
from vqvae.models.sampling import check_same_codebook, sample

MAGIC = b"VQZ\x01"
HEADER = struct.Struct("<4s8sHHHHHBI")
INVERTED = 1  # a flag: the picture was inverted to be coded (a dark drawing on white for a model of light on black)
NO_LABEL = 0xFFFF
SUFFIX = ".vqz"


@dataclass
class Coded:
    """A picture's codes, coded."""

    data: bytes  # the whole file
    bits: float  # the prior's negative log-likelihood of the codes, in bits
    surprise: torch.Tensor  # [h, w] bits spent at each bottom position
    top_surprise: torch.Tensor | None  # [h', w'] at each top position, for two levels
    label: int | None  # the class the codes were coded as (the cheapest), for a class-conditional prior


@dataclass
class Header:
    fingerprint: bytes
    height: int  # of the bottom code grid
    width: int
    picture_size: tuple[int, int]  # (height, width) of the picture inside the decoded pixels
    label: int | None
    inverted: bool  # the decoded pixels are to be inverted back into the picture's own


def fingerprint(prior: torch.nn.Module) -> bytes:
    """8 bytes that name the prior's weights: the start of the SHA-256 of every tensor of its
    state, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(prior.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()[:8]


def probabilities(logits: torch.Tensor) -> np.ndarray:
    """logits [1, K] -> the distribution [1, K] (float64) both ends of the coder use."""
    return torch.softmax(logits.double(), -1).cpu().numpy()


@torch.no_grad()
def cheapest_label(prior, bottom: torch.Tensor, top: torch.Tensor | None) -> int | None:
    """The class under which a class-conditional prior gives the codes (bottom [h, w], top
    [h', w'] or None) the fewest bits: every class scored in one batch."""
    n = prior.config.n_classes
    if not n:
        return None
    labels = torch.arange(n)
    nll = torch.zeros(n, dtype=torch.float64)
    for model, codes, condition in _grids(prior, bottom, top):
        grids = codes.expand(n, -1, -1)
        logits = model(grids, labels, None if condition is None else condition.expand(n, -1, -1))
        picked = torch.log_softmax(logits.double(), 1).gather(1, grids[:, None]).squeeze(1)
        nll -= picked.sum((1, 2))
    return int(nll.argmin())


def _grids(prior, bottom: torch.Tensor, top: torch.Tensor | None):
    """(PixelCNN, codes [1, h, w], condition) of each grid, in coding order."""
    if prior.config.levels == 2:
        return [(prior.top, top[None], None), (prior.bottom, bottom[None], top[None])]
    return [(prior, bottom[None], None)]


@torch.no_grad()
def compress(prior, vqvae, bottom: torch.Tensor, top: torch.Tensor | None = None,
             picture_size: tuple[int, int] | None = None, label: int | None = None, inverted: bool = False) -> Coded:
    """A picture's codes (bottom [h, w] and, for two levels, top [h', w']; on the CPU) -> the
    Coded file. picture_size: (height, width) of the picture in the decoded pixels (default:
    all of them); label: the class to code under (default: the cheapest); inverted: the
    picture was inverted to be coded, and is to be inverted back when decoded."""
    check_same_codebook(prior, vqvae)
    prior.eval()
    bottom, top = bottom.cpu().long(), None if top is None else top.cpu().long()
    _check_grids(vqvae, bottom, top)
    h, w = bottom.shape
    f = vqvae.config.downsample
    picture_size = picture_size or (h * f, w * f)
    if label is None:
        label = cheapest_label(prior, bottom, top)
    encoder, family = constriction.stream.queue.RangeEncoder(), constriction.stream.model.Categorical(perfect=False)
    surprises = []
    for model, codes, condition in _grids(prior, bottom, top):
        surprise = torch.zeros(codes.shape[-2:], dtype=torch.float64)

        def put(logits, i, j, codes=codes, surprise=surprise):
            p = probabilities(logits)
            code = int(codes[0, i, j])
            encoder.encode(np.array([code], dtype=np.int32), family, p)
            surprise[i, j] = -math.log2(p[0, code])
            return codes[:, i, j]

        _run(model, codes.shape[-2:], label, condition, put)
        surprises.append(surprise)
    payload = encoder.get_compressed().astype("<u4").tobytes()
    fields = HEADER.pack(MAGIC, fingerprint(prior), h, w, *picture_size, NO_LABEL if label is None else label,
                         INVERTED if inverted else 0, 0)[:-4]
    data = fields + struct.pack("<I", zlib.crc32(fields + payload)) + payload
    return Coded(data, float(sum(s.sum() for s in surprises)), surprises[-1],
                 surprises[0] if top is not None else None, label)


def read_header(data: bytes) -> Header:
    """The header of a coded file; VQVAEError for anything that is not one."""
    if len(data) < HEADER.size or data[:3] != MAGIC[:3]:
        raise VQVAEError(f"not a VQ-VAE Lab code file: it does not start with {MAGIC[:3]!r}")
    if data[:4] != MAGIC:
        raise VQVAEError(f"a code file of format {data[3]}, which this version cannot read (it reads {MAGIC[3]})")
    if (len(data) - HEADER.size) % 4:
        raise VQVAEError("the code file is cut short or damaged: its length is not whole 32-bit words")
    _, mark, h, w, picture_h, picture_w, label, flags, crc = HEADER.unpack_from(data)
    if not h or not w or not picture_h or not picture_w or flags & ~INVERTED:
        raise VQVAEError("the code file is damaged: its header does not describe a picture")
    if zlib.crc32(data[: HEADER.size - 4] + data[HEADER.size :]) != crc:
        raise VQVAEError("the code file is damaged: its checksum does not match its contents")
    return Header(mark, h, w, (picture_h, picture_w), None if label == NO_LABEL else label, bool(flags & INVERTED))


@torch.no_grad()
def decompress(data: bytes, prior, vqvae) -> tuple[torch.Tensor | None, torch.Tensor, Header]:
    """A coded file -> (top [h', w'] or None, bottom [h, w], its Header). VQVAEError when the
    file is damaged or was coded with another prior."""
    header = read_header(data)
    check_same_codebook(prior, vqvae)
    if header.fingerprint != fingerprint(prior):
        raise VQVAEError("the code file was made with another prior: pass the prior it was coded with")
    f = vqvae.config.downsample
    if header.picture_size[0] > header.height * f or header.picture_size[1] > header.width * f:
        raise VQVAEError("the code file is damaged: its picture is larger than its codes")
    n_classes = prior.config.n_classes
    if (header.label is None) != (not n_classes) or (header.label is not None and header.label >= n_classes):
        raise VQVAEError("the code file is damaged: its class does not fit the prior")
    prior.eval()
    words = np.frombuffer(data, dtype="<u4", offset=HEADER.size).astype(np.uint32)
    decoder, family = constriction.stream.queue.RangeDecoder(words), constriction.stream.model.Categorical(perfect=False)

    def take(logits, i, j):
        return torch.from_numpy(decoder.decode(family, probabilities(logits)).astype(np.int64))

    h, w = header.height, header.width
    top = None
    if prior.config.levels == 2:
        top = _run(prior.top, ((h + 1) // 2, (w + 1) // 2), header.label, None, take)[0]
        bottom = _run(prior.bottom, (h, w), header.label, top[None], take)[0]
    else:
        bottom = _run(prior, (h, w), header.label, None, take)[0]
    return top, bottom, header


def _run(model, shape: tuple[int, int], label: int | None, condition: torch.Tensor | None, pick) -> torch.Tensor:
    """The fast sampler over one grid with `pick` choosing each code -> the codes [1, h, w]."""
    labels = None if label is None else torch.tensor([label])
    progress = None
    for progress in sample(model, 1, *shape, labels=labels, graphs=False, condition=condition, pick=pick):
        pass
    return progress.codes.clone()


def _check_grids(vqvae, bottom: torch.Tensor, top: torch.Tensor | None) -> None:
    c = vqvae.config
    if bottom.dim() != 2 or not bottom.numel() or max(bottom.shape) > 0xFFFF:
        raise VQVAEError(f"a code grid is [h, w] with sides 1..65535, not {list(bottom.shape)}")
    if (c.levels == 2) != (top is not None):
        raise VQVAEError(f"the model has {c.levels} level(s): pass {'both grids' if c.levels == 2 else 'one grid'}")
    if bottom.min() < 0 or bottom.max() >= c.codebook_size:
        raise VQVAEError(f"code indices must lie in 0..{c.codebook_size - 1}")
