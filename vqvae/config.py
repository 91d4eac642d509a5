"""Settings as plain dataclasses, and the presets taken from the tutorials.

A model's settings (ModelConfig) travel inside its checkpoint's config.json; a run's
settings (RunConfig = model + training) live in the run folder's config.json.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import VQVAEError

ARCHITECTURES = ("conv", "patch")
QUANTIZERS = ("plain", "ema")
# "ze": decoder input z_e + sg(z_q - z_e), the paper's estimator.
# "zq": z_q + (z_e - sg(z_e)), the second tutorial's: same values, but the
#       reconstruction gradient also reaches the codebook.
STRAIGHT_THROUGH = ("ze", "zq")
CODEBOOK_INITS = ("uniform", "data")
RECON_LOSSES = ("mse", "l1")

# What the product can serve, with the reason a user is told. The prior's code cache stores
# codes as int16 (limit 32,767); the Codebook page shows every code decoded and measured
# against every encoder output, which stays within its render budget up to this K.
MAX_CODEBOOK_SIZE = 16384
MAX_IMAGE_SIZE = 512  # data sets are held in memory as uint8 [N, C, S, S]; the tutorials stop at 128
MAX_WIDTH = 1024  # hidden and code dimension: a wider model than any tutorial's by 8x


@dataclass
class ModelConfig:
    """Everything needed to rebuild a VQ-VAE's modules (stored in its checkpoint)."""

    arch: str = "conv"
    in_channels: int = 1
    image_size: int = 28
    hidden: int = 64  # width of the conv trunk / the patch MLP
    res_hidden: int = 32  # bottleneck width inside a residual block
    n_res_blocks: int = 2
    stages: int = 2  # conv: stride-2 stages, so codes are image_size / 2**stages wide
    patch: int = 4  # patch: pixels per code along each side
    codebook_size: int = 128
    code_dim: int = 32
    quantizer: str = "ema"
    beta: float = 0.25  # commitment weight
    ema_decay: float = 0.99
    ema_eps: float = 1e-5  # Laplace smoothing of the EMA cluster sizes
    codebook_init: str = "uniform"  # uniform(-1/K, 1/K), or sampled from the first batch's encoder outputs
    straight_through: str = "ze"
    dead_code_window: int = 100  # a code unused for this many training steps counts as dead
    restart_dead_codes: bool = False  # re-seed dead codes from recent encoder outputs

    @property
    def downsample(self) -> int:
        return 2**self.stages if self.arch == "conv" else self.patch

    @property
    def grid_size(self) -> int:
        """Side of the code grid."""
        return self.image_size // self.downsample

    def validate(self) -> "ModelConfig":
        _choice("arch", self.arch, ARCHITECTURES)
        _choice("quantizer", self.quantizer, QUANTIZERS)
        _choice("straight_through", self.straight_through, STRAIGHT_THROUGH)
        _choice("codebook_init", self.codebook_init, CODEBOOK_INITS)
        if self.codebook_size < 2:
            raise VQVAEError(f"codebook size {self.codebook_size} is too small: use at least 2 codes (e.g. --codebook-size 128)")
        if self.codebook_size > MAX_CODEBOOK_SIZE:
            raise VQVAEError(f"codebook size {self.codebook_size} is above the {MAX_CODEBOOK_SIZE:,} codes the prior's code "
                             f"cache and the Codebook page handle: use --codebook-size {MAX_CODEBOOK_SIZE} or fewer")
        if not 1 <= self.image_size <= MAX_IMAGE_SIZE:
            raise VQVAEError(f"image size {self.image_size} is outside 1..{MAX_IMAGE_SIZE} pixels, the largest the "
                             f"in-memory data sets serve: use a smaller --image-size")
        for name in ("hidden", "code_dim"):
            if getattr(self, name) > MAX_WIDTH:
                raise VQVAEError(f"{name} {getattr(self, name)} is above {MAX_WIDTH}: use a narrower model")
        if self.in_channels not in (1, 3):
            raise VQVAEError(f"image channels must be 1 (grayscale) or 3 (RGB), not {self.in_channels}")
        for name in ("hidden", "res_hidden", "code_dim", "n_res_blocks", "dead_code_window"):
            if getattr(self, name) < (0 if name == "n_res_blocks" else 1):
                raise VQVAEError(f"{name} must be positive, not {getattr(self, name)}")
        if self.arch == "conv" and self.stages > 1 and self.hidden < 2:
            raise VQVAEError(f"hidden width {self.hidden} is too small for {self.stages} stages: use at least 2")
        if self.arch == "conv" and self.stages < 1:
            raise VQVAEError(f"the conv model needs at least 1 stride-2 stage, not {self.stages}")
        if self.arch == "patch" and self.patch < 1:
            raise VQVAEError(f"patch size must be at least 1, not {self.patch}")
        if self.image_size < self.downsample or self.image_size % self.downsample:
            what = f"{self.stages} stride-2 stages" if self.arch == "conv" else f"patch size {self.patch}"
            raise VQVAEError(
                f"image size {self.image_size} cannot be divided by {what} (a factor of {self.downsample}): "
                f"choose an image size that is a multiple of {self.downsample}"
            )
        if not 0 < self.ema_decay < 1:
            raise VQVAEError(f"EMA decay must lie strictly between 0 and 1, not {self.ema_decay}")
        if self.beta < 0:
            raise VQVAEError(f"beta (commitment weight) must not be negative, not {self.beta}")
        return self


@dataclass
class TrainConfig:
    """How to train: data, optimisation, logging."""

    dataset: str = "mnist"  # mnist, fashion, cifar10, folder
    data: str | None = None  # a local folder: an image folder, or a copy of a torchvision data set
    center_crop: int | None = None  # crop the central square of this size first (image folders)
    download: bool = False  # let torchvision download the data set when it is not found locally
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    recon_loss: str = "mse"
    divide_by_variance: bool = False  # reconstruction loss / variance of the training data
    seed: int = 0
    device: str = "auto"  # auto: CUDA, then MPS, then CPU
    amp: bool = True  # bf16 autocast on CUDA (ignored elsewhere)
    log_every: int = 20  # steps between step lines in metrics.jsonl
    preview_images: int = 16  # held-out images in each epoch's reconstruction grid

    def validate(self) -> "TrainConfig":
        _choice("reconstruction loss", self.recon_loss, RECON_LOSSES)
        _check_optimisation(self)
        if self.preview_images < 1:
            raise VQVAEError(f"preview_images must be at least 1, not {self.preview_images}")
        if self.center_crop is not None and self.center_crop < 1:
            raise VQVAEError(f"center crop must be a positive size in pixels, not {self.center_crop}")
        return self


@dataclass
class PriorConfig:
    """A Gated PixelCNN over code grids (stored in the prior's checkpoint)."""

    codebook_size: int = 128  # K of the VQ-VAE whose codes it models
    channels: int = 64  # width of both stacks
    head: int = 32  # width of the 1x1 head before the K logits
    n_blocks: int = 8  # 1 mask-A block + (n_blocks - 1) mask-B blocks
    first_kernel: int = 7  # kernel of the mask-A block
    kernel: int = 3  # kernel of the mask-B blocks
    n_classes: int = 0  # > 0: class-conditional (e.g. 10 for MNIST digits)

    def validate(self) -> "PriorConfig":
        if self.codebook_size < 2:
            raise VQVAEError(f"the prior needs at least 2 codes, not {self.codebook_size}")
        for name in ("channels", "head", "n_blocks"):
            if getattr(self, name) < 1:
                raise VQVAEError(f"prior {name} must be at least 1, not {getattr(self, name)}")
        for name in ("first_kernel", "kernel"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise VQVAEError(f"prior {name} must be odd and positive, not {k}")
        if self.n_classes < 0:
            raise VQVAEError(f"n_classes must be 0 (unconditional) or more, not {self.n_classes}")
        return self


@dataclass
class PriorTrainConfig:
    """How to train a prior: which frozen VQ-VAE encodes which data, and the optimisation."""

    vqvae: str = ""  # the VQ-VAE as the user named it (a copy lives in the run folder)
    # None: the VQ-VAE run's data set (mnist for a bare grayscale checkpoint). A new run
    # records what that resolved to, so a resume that must re-encode finds the same data.
    dataset: str | None = None
    data: str | None = None
    center_crop: int | None = None
    conditional: bool = True  # condition on the class labels when the data set has them
    shift: int = 0  # also encode the training images shifted by up to this many pixels each way
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    cosine: bool = True  # decay the learning rate to 0 along a half cosine over the run
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    log_every: int = 20
    samples: int = 64  # images in each epoch's sample grid

    def validate(self) -> "PriorTrainConfig":
        _check_optimisation(self)
        if self.samples < 1:
            raise VQVAEError(f"samples must be at least 1, not {self.samples}")
        if not 0 <= self.shift <= 4:
            raise VQVAEError(f"shift must be 0 to 4 pixels, not {self.shift}")
        return self


class _RunSettings:
    """What both kinds of run config share: validating every section, and plain dicts."""

    def validate(self):
        try:
            for f in fields(self):
                section = getattr(self, f.name)
                if hasattr(section, "validate"):
                    section.validate()
        except TypeError as exc:  # e.g. "epochs": "20" in a hand-written config file
            raise VQVAEError(f"a setting has the wrong type ({exc}): use numbers for sizes and rates") from None
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PriorRunConfig(_RunSettings):
    """A prior run's config.json: the prior's modules and how it is trained."""

    prior: PriorConfig = field(default_factory=PriorConfig)
    train: PriorTrainConfig = field(default_factory=PriorTrainConfig)
    preset: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "PriorRunConfig":
        _check_object(data, "the prior run config")
        if run_kind(data) != "prior":
            raise VQVAEError("this run folder holds a VQ-VAE run, not a prior run: pass a prior run folder")
        try:
            return cls(prior=_from_dict(PriorConfig, data["prior"]),
                       train=_from_dict(PriorTrainConfig, data.get("train", {})), preset=data.get("preset"))
        except (TypeError, AttributeError) as exc:
            raise VQVAEError(f"the prior run config is malformed ({exc}): fix it or start a new run") from None


@dataclass
class RunConfig(_RunSettings):
    """A VQ-VAE run's config.json: the model's modules and how it is trained."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        _check_object(data, "the run config")
        try:
            return cls(
                model=_from_dict(ModelConfig, data.get("model", {})),
                train=_from_dict(TrainConfig, data.get("train", {})),
                preset=data.get("preset"),
            )
        except (TypeError, AttributeError) as exc:
            raise VQVAEError(f"the run config is malformed ({exc}): fix it or start a new run") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise VQVAEError(f"config file {path} does not exist: check the path") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VQVAEError(f"config file {path} is not valid JSON ({exc}): fix or remove it") from None
        return cls.from_dict(data)


def run_kind(config) -> str | None:
    """What a config.json describes: "vqvae" or "prior" (a run's config, or a checkpoint's
    model config), else None (not ours, or damaged)."""
    if not isinstance(config, dict):
        return None
    if "prior" in config or "n_blocks" in config:
        return "prior"
    if "model" in config or "arch" in config:
        return "vqvae"
    return None


def _check_object(data, what: str) -> None:
    if not isinstance(data, dict):
        raise VQVAEError(f"{what} is not a JSON object: fix it, or start a new run")


def _from_dict(cls, data: dict):
    _check_object(data, f"the {cls.__name__} section")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise VQVAEError(f"unknown {cls.__name__} setting(s) {sorted(unknown)}: known ones are {sorted(known)}")
    return cls(**data)


def _check_optimisation(t) -> None:
    """The settings every training config has: epochs, batch size, learning rate, logging."""
    if t.epochs < 0:
        raise VQVAEError(f"epochs must be 0 or more, not {t.epochs}")
    if t.batch_size < 1:
        raise VQVAEError(f"batch size must be at least 1, not {t.batch_size}")
    if not t.lr > 0:
        raise VQVAEError(f"learning rate must be positive, not {t.lr}")
    if t.log_every < 1:
        raise VQVAEError(f"log_every must be at least 1, not {t.log_every}")


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise VQVAEError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")


# The tutorials' settings, with the MNIST preset changed by measurement (see README): K = 32,
# dim 32 tops out near 23 dB on the 1,000 held-out images; K = 128 passes 24 dB;
# 8-dimensional codes keep more of the codebook in use than 32-dimensional ones (held-out
# EMA perplexity 0.65-0.71 K against 0.50-0.61 K), as Improved VQGAN found; batch 32 at
# width 48 reaches 22 dB in 2.5 epochs where batch 64 at width 64 needs 4.
PRESETS: dict[str, RunConfig] = {
    "mnist": RunConfig(
        ModelConfig(in_channels=1, image_size=28, hidden=48, res_hidden=32, codebook_size=128, code_dim=8,
                    codebook_init="data"),
        TrainConfig(dataset="mnist", epochs=20, batch_size=32, lr=1e-3),
    ),
    "fashion": RunConfig(
        ModelConfig(in_channels=1, image_size=28, hidden=48, res_hidden=32, codebook_size=128, code_dim=8,
                    codebook_init="data"),
        TrainConfig(dataset="fashion", epochs=20, batch_size=32, lr=1e-3),
    ),
    # Third tutorial: hidden 128, D 64, K 512, Adam 2e-4, batch 128, 30 epochs, L1 loss; 8x8 codes.
    "cifar10": RunConfig(
        ModelConfig(in_channels=3, image_size=32, hidden=128, res_hidden=64, codebook_size=512, code_dim=64),
        TrainConfig(dataset="cifar10", epochs=30, batch_size=128, lr=2e-4, recon_loss="l1"),
    ),
    # First tutorial on CelebA-HQ 256 px: center crop 168, then resize.
    "celeba64": RunConfig(
        ModelConfig(in_channels=3, image_size=64, hidden=128, res_hidden=64, codebook_size=64, code_dim=128),
        TrainConfig(dataset="folder", center_crop=168, epochs=30, batch_size=64, lr=1e-3),
    ),
    "celeba128": RunConfig(
        ModelConfig(in_channels=3, image_size=128, hidden=128, res_hidden=64, codebook_size=128, code_dim=128),
        TrainConfig(dataset="folder", center_crop=168, epochs=30, batch_size=32, lr=1e-3),
    ),
}


def preset(name: str) -> RunConfig:
    """A fresh copy of a preset (callers may change it freely)."""
    if name not in PRESETS:
        raise VQVAEError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    cfg = copy.deepcopy(PRESETS[name])
    cfg.preset = name
    return cfg


# Prior sizes per VQ-VAE preset. The tutorials used 15 blocks of 128 channels for MNIST
# (about 100 s an epoch here) and 384 channels, head 256 for faces. The MNIST prior was
# chosen by measurement (see README): without shifted copies a 64-channel prior overfits
# the 9,000 code grids after 6 epochs at 2.51 nats per code; with the 9 one-pixel shifts
# it reaches about 2.15 in 3 epochs (11 minutes on 2 CPU cores).
PRIOR_PRESETS: dict[str, PriorRunConfig] = {
    "mnist": PriorRunConfig(PriorConfig(channels=64, head=32, n_blocks=8),
                            PriorTrainConfig(shift=1, epochs=3, batch_size=64, lr=1e-3)),
    "fashion": PriorRunConfig(PriorConfig(channels=64, head=32, n_blocks=8),
                              PriorTrainConfig(shift=1, epochs=3, batch_size=64, lr=1e-3)),
    "cifar10": PriorRunConfig(PriorConfig(channels=128, head=128, n_blocks=15), PriorTrainConfig(epochs=30, batch_size=64, lr=3e-4)),
    "celeba64": PriorRunConfig(PriorConfig(channels=384, head=256, n_blocks=15), PriorTrainConfig(epochs=30, batch_size=32, lr=3e-4)),
    "celeba128": PriorRunConfig(PriorConfig(channels=384, head=256, n_blocks=15), PriorTrainConfig(epochs=30, batch_size=16, lr=3e-4)),
}


def prior_preset(name: str) -> PriorRunConfig:
    """A fresh copy of a prior preset (its codebook size is set from the VQ-VAE later)."""
    if name not in PRIOR_PRESETS:
        raise VQVAEError(f"unknown prior preset {name!r}: choose one of {', '.join(PRIOR_PRESETS)}")
    cfg = copy.deepcopy(PRIOR_PRESETS[name])
    cfg.preset = name
    return cfg
