"""Settings as plain dataclasses, and the presets taken from the tutorials.

A model's settings (ModelConfig) travel inside its checkpoint's config.json; a run's
settings (RunConfig = model + training) live in the run folder's config.json.

Each field is declared once, with `setting(...)`: its default, help, choices and bounds.
The CLI's flags (vqvae/__main__.py), the validation messages and the dashboard's widgets
(pages/common.setting_widget) are all made from that, so a new setting is one field here
plus the code that uses it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from vqvae.errors import VQVAEError

ARCHITECTURES = ("conv", "patch")
QUANTIZERS = ("plain", "ema", "fsq")
# "ze": decoder input z_e + sg(z_q - z_e), the paper's estimator.
# "zq": z_q + (z_e - sg(z_e)), the second tutorial's: same values, but the
#       reconstruction gradient also reaches the codebook.
# "rotation": the rotation trick (Fifty et al. 2024): z_q in the forward pass; backward, the
#       gradient turned by the rotation that takes z_e's direction to z_q's and scaled by
#       |z_q| / |z_e|, so it tells the encoder where within a code's cell z_e lies.
STRAIGHT_THROUGH = ("ze", "zq", "rotation")
CODEBOOK_INITS = ("uniform", "data", "kmeans")
RECON_LOSSES = ("mse", "l1")

# What the product can serve. The prior's code cache stores codes as int16 (limit 32,767);
# the Codebook page decodes every code and measures it against every encoder output, which
# stays within its render budget up to this K.
MAX_CODEBOOK_SIZE = 16384
MAX_IMAGE_SIZE = 512  # data sets are held in memory as uint8 [N, C, S, S]
MAX_WIDTH = 1024  # hidden and code dimension


def setting(default, help: str = "", *, label: str | None = None, title: str | None = None, flag: str | None = "",
            short: str | None = None, choices: tuple | None = None, low=None, high=None, why: str = "",
            stops: tuple | None = None, ui: tuple | None = None):
    """A config field with everything the CLI, the validation and the dashboard know of it.

    help: the flag's help and the widget's tooltip; label: its name in messages (default the
    field's name); title: the widget's label; flag: the CLI flag without its dashes ("" for
    the field's name, dashed; None for no flag); short: a short flag such as "-K"; choices:
    the allowed values; low, high: inclusive bounds, `why` says what the upper one protects;
    stops: the values a dashboard slider steps through; ui: (low, high, step) of a dashboard
    widget, inside the bounds.
    """
    return field(default=default, metadata=dict(help=help, label=label, title=title, flag=flag, short=short,
                                                 choices=choices, low=low, high=high, why=why, stops=stops, ui=ui))


def setting_info(section, name: str) -> dict:
    """The metadata of a setting (see `setting`), with its label, its value type and whether
    it may be None (optional) filled in."""
    f = next(f for f in fields(section) if f.name == name)
    return dict(f.metadata, label=f.metadata.get("label") or name, type=value_type(f), optional="None" in str(f.type))


def value_type(f) -> type:
    """int, float, str or bool: the type a field's values have (None aside)."""
    return {"int": int, "float": float, "str": str, "bool": bool}[str(f.type).replace(" | None", "")]


def flag_name(f) -> str | None:
    """The CLI flag of a field, without dashes; None when it has none."""
    if "flag" not in f.metadata or f.metadata["flag"] is None:
        return None
    return f.metadata["flag"] or f.name.replace("_", "-")


class _Section:
    """A section of settings: each value is checked against its field's type, choices and bounds."""

    def check_settings(self) -> None:
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            label, kind = meta.get("label") or f.name, value_type(f)
            if value is None and "None" in str(f.type):
                continue
            if not _fits(value, kind):
                raise VQVAEError(f"{label} must be {_KIND_WORDS[kind]}, not {value!r}: fix the setting")
            if meta.get("choices") is not None and value not in meta["choices"]:
                _choice(label, value, meta["choices"])
            flag = f" (--{flag_name(f)})" if flag_name(f) else ""
            if meta.get("low") is not None and value < meta["low"]:
                raise VQVAEError(f"{label} {value} is too small: use at least {meta['low']}{flag}")
            if meta.get("high") is not None and value > meta["high"]:
                raise VQVAEError(f"{label} {value} is too large: use at most {meta['high']:,}{flag}"
                                 + (f"; {meta['why']}" if meta.get("why") else ""))


_KIND_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def _fits(value, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


@dataclass
class ModelConfig(_Section):
    """Everything needed to rebuild a VQ-VAE's modules (stored in its checkpoint)."""

    arch: str = setting("conv", "conv: strided convolutions; patch: one linear map per patch of pixels",
                        title="Architecture", choices=ARCHITECTURES)
    in_channels: int = setting(1, "image channels: 1 or 3", label="image channels", flag="channels", choices=(1, 3))
    image_size: int = setting(28, "side of the (square) images in pixels", label="image size", low=1, high=MAX_IMAGE_SIZE,
                              why="data sets are held in memory, and the tutorials stop at 128")
    hidden: int = setting(64, "width of the conv trunk / the patch MLP", low=1, high=MAX_WIDTH,
                          why="a wider model than any tutorial's by 8x")
    res_hidden: int = setting(32, "bottleneck width inside a residual block", flag=None, low=1)
    n_res_blocks: int = setting(2, "residual blocks in the encoder and in the decoder", flag=None, low=0)
    stages: int = setting(2, "conv: stride-2 stages, so codes are image_size / 2**stages wide")
    patch: int = setting(4, "patch: pixels per code side")
    codebook_size: int = setting(128, "codes in the codebook", label="codebook size", title="Codebook size K", short="-K",
                                 low=2, high=MAX_CODEBOOK_SIZE, stops=(8, 16, 32, 64, 128, 256, 512, 1024),
                                 why="the prior's int16 code cache and the Codebook page serve up to that many")
    code_dim: int = setting(32, "numbers in each code vector", title="Code dimension D", short="-D", low=1, high=MAX_WIDTH,
                            stops=(2, 4, 8, 16, 32, 64, 128), why="a wider code than any tutorial's by 8x")
    quantizer: str = setting("ema", "plain: the codebook learns by a loss; EMA: codes move to the running mean of "
                                    "their vectors; FSQ: each number rounded to a few levels (--fsq-levels)",
                             title="Quantizer", choices=QUANTIZERS)
    fsq_levels: str = setting("8,5,5,5", "FSQ: the levels of each code dimension, comma-separated; their product is "
                                         "the number of codes (8,5,5,5: 1,000), their count the code dimension",
                              title="FSQ levels")
    beta: float = setting(0.25, "commitment weight (default 0.25)", title="Commitment weight beta", low=0.0,
                          ui=(0.0, 2.0, 0.05))
    ema_decay: float = setting(0.99, "decay of the EMA codebook's running averages (0 to 1)")
    ema_eps: float = setting(1e-5, "Laplace smoothing of the EMA cluster sizes", flag=None, low=0.0)
    ema_bias_correction: bool = setting(False, "EMA: start the running sums at zero and divide them by 1 - decay^t, as "
                                               "Adam does, so the first steps are not pulled towards the initial codes",
                                        title="Bias-corrected EMA")
    codebook_init: str = setting("uniform", "uniform(-1/K, 1/K); data: sampled from the first batch's encoder outputs; "
                                            "kmeans: those, then a few Lloyd iterations over them",
                                 choices=CODEBOOK_INITS)
    straight_through: str = setting("ze", "ze: z_e + sg(z_q - z_e); zq: z_q + (z_e - sg(z_e)), which also trains the "
                                          "codebook by the reconstruction; rotation: the rotation trick", choices=STRAIGHT_THROUGH)
    cosine_codebook: bool = setting(False, "compare codes and encoder outputs l2-normalised: the nearest code by "
                                           "cosine similarity", title="Cosine codebook")
    lookup_dim: int | None = setting(None, "search for the nearest code in this many dimensions: a learnt map down "
                                           "from the code dimension and back up (Improved VQGAN uses 8 or 4)",
                                     title="Lookup dimension", low=1)
    dead_code_window: int = setting(100, "steps unused before a code counts as dead (the threshold of the dead-code "
                                         "count and of restarts)", title="Dead after (steps)", low=1)
    restart_dead_codes: bool = setting(False, "re-seed codes unused for a while from recent encoder outputs",
                                       title="Restart dead codes")

    @property
    def levels(self) -> tuple[int, ...]:
        """The FSQ levels as numbers (validate() has checked them)."""
        return tuple(int(part) for part in self.fsq_levels.split(","))

    @property
    def codebook_words(self) -> str:
        """The quantizer and the variant settings it runs with, in words (model cards, labels):
        "ema codebook, rotation trick", "FSQ, levels 8,4,4"."""
        if self.quantizer == "fsq":
            return f"FSQ, levels {self.fsq_levels}"
        words = [f"{self.quantizer} codebook"]
        words += [word for on, word in (
            (self.quantizer == "ema" and self.ema_bias_correction, "bias-corrected"),
            (self.codebook_init == "kmeans", "k-means init"),
            (self.straight_through == "rotation", "rotation trick"),
            (self.straight_through == "zq", "straight-through on z_q"),
            (self.cosine_codebook, "cosine"),
            (self.lookup_dim is not None, f"lookup in {self.lookup_dim} dimensions"),
            (self.restart_dead_codes, "dead-code restarts")) if on]
        return ", ".join(words)

    @property
    def downsample(self) -> int:
        return 2**self.stages if self.arch == "conv" else self.patch

    @property
    def grid_size(self) -> int:
        """Side of the code grid."""
        return self.image_size // self.downsample

    def validate(self) -> "ModelConfig":
        """Each setting on its own (its field's type, choices and bounds), then the settings
        that depend on each other."""
        self.check_settings()
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
        if self.quantizer == "fsq":
            if self.cosine_codebook or self.lookup_dim:
                raise VQVAEError("FSQ has no codebook to search by cosine or in a lower dimension: drop "
                                 "--cosine-codebook and --lookup-dim, or use --quantizer plain or ema")
            self._derive_fsq_sizes()
        if self.lookup_dim is not None and self.lookup_dim >= self.code_dim:
            raise VQVAEError(f"the lookup dimension {self.lookup_dim} must be smaller than the code dimension "
                             f"{self.code_dim}: lower --lookup-dim, or drop it to search in the code dimension")
        if self.cosine_codebook and (self.lookup_dim or self.code_dim) < 2:
            raise VQVAEError("a cosine codebook needs vectors of at least 2 numbers (1-number vectors normalise to "
                             "+-1): raise --code-dim (or --lookup-dim), or drop --cosine-codebook")
        return self

    def _derive_fsq_sizes(self) -> None:
        """FSQ's codes are the grid of its levels: K and D follow from them (and the codebook's
        own settings, init, restarts, beta and EMA decay, have nothing to act on)."""
        parts = [part.strip() for part in self.fsq_levels.split(",") if part.strip()]
        if not parts:
            raise VQVAEError("FSQ needs at least one level count: give --fsq-levels such as 8,5,5,5")
        if not all(part.isdigit() for part in parts):
            raise VQVAEError(f"FSQ levels must be whole numbers separated by commas, not {self.fsq_levels!r}: "
                             f"for example 8,5,5,5")
        levels = [int(part) for part in parts]
        if min(levels) < 2:
            raise VQVAEError(f"each FSQ level count must be at least 2 (1 level carries nothing), not {min(levels)}: "
                             f"fix --fsq-levels {self.fsq_levels}")
        size = math.prod(levels)
        if size > MAX_CODEBOOK_SIZE:
            raise VQVAEError(f"FSQ levels {self.fsq_levels} make {size:,} codes, more than the {MAX_CODEBOOK_SIZE:,} "
                             f"the product serves: use fewer or smaller levels")
        self.fsq_levels = ",".join(map(str, levels))
        self.codebook_size, self.code_dim = size, len(levels)


@dataclass
class TrainConfig(_Section):
    """How to train: data, optimisation, logging."""

    dataset: str = setting("mnist", "mnist, fashion, cifar10 or folder")
    data: str | None = setting(None, "an image folder, or a folder holding a torchvision copy of the data set")
    center_crop: int | None = setting(None, "crop the central square of this size first (image folders)",
                                      label="center crop", low=1)
    download: bool = setting(False, "let torchvision download the data set when it is not found locally")
    epochs: int = setting(20, "passes over the training images", title="Epochs", low=0, ui=(1, 500, 1))
    batch_size: int = setting(64, "images per optimiser step", label="batch size", low=1)
    lr: float = setting(1e-3, "Adam's learning rate", title="Learning rate", stops=(1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3))
    cosine: bool = setting(False, "decay the learning rate along a half cosine to 0 over the run")
    recon_loss: str = setting("mse", "mse or l1 (sharper)", label="reconstruction loss", choices=RECON_LOSSES)
    divide_by_variance: bool = setting(False, "divide the reconstruction loss by the training data's variance")
    seed: int = setting(0, "seeds the weights, the codebook and the shuffles", title="Seed", low=0, ui=(0, 2**31 - 1, 1))
    device: str = setting("auto", "auto (default), cpu, cuda or mps")
    amp: bool = setting(True, "bf16 autocast on CUDA")
    channels_last: bool = setting(False, "CUDA: the model and its images channels-last in memory (faster "
                                         "convolutions where the GPU's kernels prefer it: scripts/gpu_check.py measures it)")
    compile: bool = setting(False, "CUDA: torch.compile the model for training (compiling first takes a while: "
                                   "scripts/gpu_check.py measures whether it pays)")
    log_every: int = setting(20, "steps between step lines in metrics.jsonl", low=1)
    augment: bool = setting(False, "flip each training image left-right half the time and move it by up to 1/16 of "
                                   "its side (held-out images never are)")
    preview_images: int = setting(16, "held-out images in each epoch's reconstruction grid", flag=None, low=1)

    def validate(self) -> "TrainConfig":
        self.check_settings()
        _check_learning_rate(self)
        return self


@dataclass
class PriorConfig(_Section):
    """A Gated PixelCNN over code grids (stored in the prior's checkpoint)."""

    codebook_size: int = setting(128, "K of the VQ-VAE whose codes it models", label="the prior's codebook size",
                                 flag=None, low=2, high=MAX_CODEBOOK_SIZE)
    channels: int = setting(64, "width of the gated stacks", label="prior channels", flag="prior-channels", low=1)
    head: int = setting(32, "width of the 1x1 head", label="prior head", low=1)
    n_blocks: int = setting(8, "gated blocks (the first is mask A)", label="prior blocks", flag="blocks", low=1)
    first_kernel: int = setting(7, "kernel of the mask-A block (odd)", label="prior first_kernel", low=1)
    kernel: int = setting(3, "kernel of the mask-B blocks (odd)", label="prior kernel", low=1)
    n_classes: int = setting(0, "> 0: class-conditional (e.g. 10 for MNIST digits)", flag=None, low=0)

    def validate(self) -> "PriorConfig":
        self.check_settings()
        for name in ("first_kernel", "kernel"):
            if getattr(self, name) % 2 == 0:
                raise VQVAEError(f"prior {name} must be odd, not {getattr(self, name)}")
        return self


@dataclass
class PriorTrainConfig(_Section):
    """How to train a prior: which frozen VQ-VAE encodes which data, and the optimisation."""

    # The VQ-VAE as the user named it (a copy lives in the run folder).
    vqvae: str = setting("", "the VQ-VAE: a run or checkpoint folder, a bundled name or a Hub repo id")
    # None: the VQ-VAE run's data set (mnist for a bare grayscale checkpoint). A new run
    # records what that resolved to, so a resume that must re-encode finds the same data.
    dataset: str | None = setting(None, "data to encode (default: the VQ-VAE run's)")
    data: str | None = setting(None, "folder for the data set")
    center_crop: int | None = setting(None, "crop the central square of this size first (image folders)", flag=None,
                                      label="center crop", low=1)
    conditional: bool = setting(True, "condition on class labels when the data has them (default: yes)")
    shift: int = setting(0, "also train on the images shifted by up to this many pixels (0 to 4)", low=0, high=4,
                         why="a larger shift moves digits off their frame")
    epochs: int = setting(30, "passes over the training code grids", low=0)
    batch_size: int = setting(64, "code grids per optimiser step", label="batch size", low=1)
    lr: float = setting(1e-3, "Adam's learning rate")
    cosine: bool = setting(True, "decay the learning rate along a half cosine (default: yes)")
    seed: int = setting(0, "seeds the prior's weights and the shuffles", low=0)
    device: str = setting("auto", "auto (default), cpu, cuda or mps")
    amp: bool = setting(True, "bf16 autocast on CUDA")
    log_every: int = setting(20, "steps between step lines in metrics.jsonl", low=1)
    samples: int = setting(64, "images in each epoch's sample grid", low=1)

    def validate(self) -> "PriorTrainConfig":
        self.check_settings()
        _check_learning_rate(self)
        return self


@dataclass
class ClassifierConfig(_Section):
    """A small CNN that names the class of an image (stored in its checkpoint): the judge of
    a prior's samples (vqvae.training.sample_quality). Its penultimate layer, `feature_dim`
    wide, gives the features the Fréchet distance compares."""

    in_channels: int = setting(1, "image channels", flag=None, choices=(1, 3))
    image_size: int = setting(28, "side of the (square) images in pixels", flag=None, low=8, high=MAX_IMAGE_SIZE)
    n_classes: int = setting(10, "classes it tells apart", flag=None, low=2)
    width: int = setting(32, "channels of the first conv stage (the second has twice as many)", flag=None, low=1)
    feature_dim: int = setting(128, "width of the penultimate layer", flag=None, low=2)
    dataset: str = setting("mnist", "the data set it was trained on", flag=None)

    def validate(self) -> "ClassifierConfig":
        self.check_settings()
        if self.image_size < 8:
            raise VQVAEError(f"the classifier halves the image three times: it needs at least 8 pixels, "
                             f"not {self.image_size}")
        return self


KIND_NAMES = {"vqvae": "VQ-VAE", "prior": "prior", "classifier": "classifier"}


class _RunSettings:
    """What both kinds of run config share: reading, validating every section, plain dicts."""

    KIND: ClassVar[str]  # "vqvae" or "prior", as run_kind names it

    def validate(self):
        """Every section's settings; each checks its values' types first (check_settings), so
        a hand-written "epochs": "20" is one line, not a TypeError further on."""
        for f in fields(self):
            section = getattr(self, f.name)
            if hasattr(section, "validate"):
                section.validate()
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """The config a config.json holds; sections it leaves out take their defaults. A
        config of the other kind, or one that is not an object, is refused in one line."""
        what = KIND_NAMES[cls.KIND]
        _check_object(data, f"the {what} run config")
        kind = run_kind(data)
        if kind is not None and kind != cls.KIND:
            raise VQVAEError(f"this holds a {KIND_NAMES[kind]} run, not a {what} run: pass a {what} run folder or config")
        sections = [f for f in fields(cls) if f.name != "preset"]
        try:
            return cls(**{f.name: _from_dict(f.default_factory, data.get(f.name, {})) for f in sections},
                       preset=data.get("preset"))
        except (TypeError, AttributeError) as exc:
            raise VQVAEError(f"the {what} run config is malformed ({exc}): fix it or start a new run") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "_RunSettings":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise VQVAEError(f"config file {path} does not exist: check the path") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VQVAEError(f"config file {path} is not valid JSON ({exc}): fix or remove it") from None
        return cls.from_dict(data)


@dataclass
class PriorRunConfig(_RunSettings):
    """A prior run's config.json: the prior's modules and how it is trained."""

    KIND: ClassVar[str] = "prior"
    prior: PriorConfig = field(default_factory=PriorConfig)
    train: PriorTrainConfig = field(default_factory=PriorTrainConfig)
    preset: str | None = None


@dataclass
class RunConfig(_RunSettings):
    """A VQ-VAE run's config.json: the model's modules and how it is trained."""

    KIND: ClassVar[str] = "vqvae"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str | None = None


def run_kind(config) -> str | None:
    """What a config.json describes: "vqvae" or "prior" (a run's config, or a checkpoint's
    model config), "classifier" (a classifier's checkpoint), else None (not ours, or damaged)."""
    if not isinstance(config, dict):
        return None
    if "feature_dim" in config:
        return "classifier"
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


def _check_learning_rate(t) -> None:
    if not t.lr > 0:
        raise VQVAEError(f"learning rate must be positive, not {t.lr}")


def _choice(what: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise VQVAEError(f"unknown {what} {value!r}: choose one of {', '.join(map(str, allowed))}")
