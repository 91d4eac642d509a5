"""Settings as plain dataclasses (the tutorials' presets are in presets.py).

A model's settings (ModelConfig) travel inside its checkpoint's config.json; a run's
settings (RunConfig = model + training) live in the run folder's config.json.

Each field is declared once, with `setting(...)`: its type, default, help, choices and
bounds. The CLI's flags (vqvae/cli/), the validation messages and the dashboard's
widgets (vqvae.dashboard.widgets, which adds their titles) are all made from that, so a new
setting is one field here plus the code that uses it.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

from vqvae.errors import VQVAEError
from vqvae.settings import MAX_DEPTH, RunSettings, Section, fits, is_power_of_two, levels_from, levels_text, setting
# what the CLI, the store and the pages read through vqvae.config: each field's flag and type, a config's kind
from vqvae.settings import KIND_NAMES as KIND_NAMES, flag_name as flag_name, run_kind as run_kind
from vqvae.settings import setting_info as setting_info, value_type as value_type
# the prior's and the classifier's settings, read through vqvae.config as the VQ-VAE's are
from vqvae.prior_config import check_learning_rate
from vqvae.settings import LEVELS as LEVELS, MAX_CODEBOOK_SIZE as MAX_CODEBOOK_SIZE, MAX_IMAGE_SIZE as MAX_IMAGE_SIZE
from vqvae.prior_config import ClassifierConfig as ClassifierConfig, PriorConfig as PriorConfig
from vqvae.prior_config import PriorRunConfig as PriorRunConfig, PriorTrainConfig as PriorTrainConfig

ARCHITECTURES = ("conv", "patch")
QUANTIZERS = ("plain", "ema", "simvq", "fsq", "lfq", "bsq")
CODEBOOKS = ("plain", "ema", "simvq")  # the learnt codebooks: the ones residual VQ stacks
BINARY = ("lfq", "bsq")  # a bit a dimension: K = 2 ** D
# "ze": decoder input z_e + sg(z_q - z_e), the paper's estimator.
# "zq": z_q + (z_e - sg(z_e)), the second tutorial's: same values, but the
#       reconstruction gradient also reaches the codebook.
# "rotation": the rotation trick (Fifty et al. 2024): z_q in the forward pass; backward, the
#       gradient turned by the rotation that takes z_e's direction to z_q's and scaled by
#       |z_q| / |z_e|, so it tells the encoder where within a code's cell z_e lies.
STRAIGHT_THROUGH = ("ze", "zq", "rotation")
CODEBOOK_INITS = ("uniform", "data", "kmeans")
RECON_LOSSES = ("mse", "l1")

MAX_WIDTH = 1024  # hidden and code dimension (MAX_CODEBOOK_SIZE and MAX_IMAGE_SIZE: vqvae/settings.py)

def _fsq_problem(levels: tuple[int, ...]) -> str | None:
    """Why these FSQ levels cannot make a codebook (one line), or None."""
    if not levels:
        return "FSQ needs at least one level count: give --fsq-levels such as 8,5,5,5"
    if min(levels) < 2:
        return (f"each FSQ level count must be at least 2 (1 level carries nothing), not {min(levels)}: "
                f"fix --fsq-levels {levels_text(levels)}")
    if math.prod(levels) > MAX_CODEBOOK_SIZE:
        return (f"FSQ levels {levels_text(levels)} make {math.prod(levels):,} codes, more than the "
                f"{MAX_CODEBOOK_SIZE:,} the product serves: use fewer or smaller levels")
    return None


@dataclass
class ModelConfig(Section):
    """Everything needed to rebuild a VQ-VAE's modules (stored in its checkpoint)."""

    arch: str = setting("conv", "conv: strided convolutions; patch: one linear map per patch of pixels",
                        choices=ARCHITECTURES)
    in_channels: int = setting(1, "image channels: 1 or 3", label="image channels", flag="channels", choices=(1, 3))
    image_size: int = setting(28, "side of the (square) images in pixels", label="image size", low=1, high=MAX_IMAGE_SIZE,
                              why="data sets are held in memory, and the tutorials stop at 128")
    hidden: int = setting(64, "width of the conv trunk / the patch MLP", low=1, high=MAX_WIDTH,
                          why="a wider model than any tutorial's by 8x")
    res_hidden: int = setting(32, "bottleneck width inside a residual block", flag=None, low=1)
    n_res_blocks: int = setting(2, "residual blocks in the encoder and in the decoder", flag=None, low=0)
    stages: int = setting(2, "conv: stride-2 stages, so codes are image_size / 2**stages wide")
    patch: int = setting(4, "patch: pixels per code side")
    codebook_size: int = setting(128, "codes in the codebook", label="codebook size", short="-K",
                                 low=2, high=MAX_CODEBOOK_SIZE,
                                 why="the prior's int16 code cache and the Codebook page serve up to that many")
    code_dim: int = setting(32, "numbers in each code vector", short="-D", low=1, high=MAX_WIDTH,
                            why="a wider code than any tutorial's by 8x")
    quantizer: str = setting("ema", "plain: the codebook learns by a loss; EMA: codes move to the running mean of "
                                    "their vectors; SimVQ: a frozen random basis through one learnt linear map; FSQ: "
                                    "each number rounded to a few levels (--fsq-levels); LFQ: each number's sign is a "
                                    "bit (K = 2^D); BSQ: the same on the unit sphere", choices=QUANTIZERS)
    fsq_levels: tuple[int, ...] = setting((8, 5, 5, 5), "FSQ: the levels of each code dimension, comma-separated; "
                                                        "their product is the number of codes (8,5,5,5: 1,000), their "
                                                        "count the code dimension", label="FSQ levels")
    residual_depth: int = setting(1, "residual VQ: this many codebooks of K^(1/depth) codes (K 1024, depth 2: two of "
                                     "32), each quantising what the ones before left", label="residual depth", low=1,
                                  high=MAX_DEPTH, why="the reference library's users go to 8 stages")
    beta: float = setting(0.25, "commitment weight (default 0.25)", low=0.0)
    entropy_weight: float = setting(0.1, "LFQ and BSQ: weight of the entropy loss that keeps choices confident and "
                                         "spread over every code (MAGVIT-v2's 0.1)", label="entropy weight", low=0.0)
    ema_decay: float = setting(0.99, "decay of the EMA codebook's running averages (0 to 1)")
    ema_eps: float = setting(1e-5, "Laplace smoothing of the EMA cluster sizes", flag=None, low=0.0)
    ema_bias_correction: bool = setting(False, "EMA: start the running sums at zero and divide them by 1 - decay^t, as "
                                               "Adam does, so the first steps are not pulled towards the initial codes")
    codebook_init: str = setting("uniform", "uniform(-1/K, 1/K); data: sampled from the first batch's encoder outputs; "
                                            "kmeans: those, then a few Lloyd iterations over them",
                                 choices=CODEBOOK_INITS)
    straight_through: str = setting("ze", "ze: z_e + sg(z_q - z_e); zq: z_q + (z_e - sg(z_e)), which also trains the "
                                          "codebook by the reconstruction; rotation: the rotation trick",
                                    choices=STRAIGHT_THROUGH)
    cosine_codebook: bool = setting(False, "compare codes and encoder outputs l2-normalised: the nearest code by "
                                           "cosine similarity")
    lookup_dim: int | None = setting(None, "search for the nearest code in this many dimensions: a learnt map down "
                                           "from the code dimension and back up (Improved VQGAN uses 8 or 4)", low=1)
    dead_code_window: int = setting(100, "steps unused before a code counts as dead (the threshold of the dead-code "
                                         "count and of restarts)", low=1)
    restart_dead_codes: bool = setting(False, "re-seed codes unused for a while from recent encoder outputs")
    levels: int = setting(1, "conv: 1, one code grid; 2, VQ-VAE-2's two: a top grid of half the side for the "
                             "layout, which conditions the bottom grid's quantisation, both decoded together",
                          choices=LEVELS)
    top_codebook_size: int | None = setting(None, "two levels: codes in the top level's codebook (default: the "
                                                  "codebook size)", label="top codebook size", low=2,
                                            high=MAX_CODEBOOK_SIZE, why="as for the codebook size")

    def __post_init__(self) -> None:
        """Levels given as text or a list (a flag, an older config.json) become a tuple. FSQ's
        codes are the grid of its levels, so an FSQ model's K and D follow from them (and the
        codebook's own settings, init, restarts, beta and EMA decay, have nothing to act on);
        levels that cannot make a codebook are left for validate() to refuse in words. LFQ's
        and BSQ's D is log2 K; SimVQ's basis is random by design (seeded from the first batch
        it collapses: docs/codebooks.md), so it never takes a data or k-means init."""
        self.fsq_levels = levels_from(self.fsq_levels)
        self.codebook_init = "uniform" if self.quantizer == "simvq" else self.codebook_init
        if self.quantizer == "fsq" and fits(self.fsq_levels, tuple[int, ...]) and not _fsq_problem(self.fsq_levels):
            self.codebook_size, self.code_dim = math.prod(self.fsq_levels), len(self.fsq_levels)
        if self.quantizer in BINARY and fits(self.codebook_size, int) and is_power_of_two(self.codebook_size):
            self.code_dim = self.codebook_size.bit_length() - 1

    @property
    def stage_codebook_size(self) -> int:
        """Residual VQ: the codes of each stage's codebook, K^(1/depth) (K itself for one stage)."""
        return round(self.codebook_size ** (1 / self.residual_depth))

    @property
    def codebook_words(self) -> str:
        """The quantizer and the variant settings it runs with, in words (model cards, labels):
        "ema codebook, rotation trick", "FSQ, levels 8,4,4"."""
        if self.levels == 2:
            top = "" if self.quantizer == "fsq" else f", top K = {self.top_codes}"
            return f"two levels{top}, " + self.top_level().codebook_words
        if self.quantizer == "fsq":
            return f"FSQ, levels {levels_text(self.fsq_levels)}"
        if self.quantizer in BINARY:
            return f"{self.quantizer.upper()}, {self.code_dim} bits"
        words = [f"{'SimVQ' if self.quantizer == 'simvq' else self.quantizer} codebook"]
        if self.residual_depth > 1:
            words = [f"residual VQ, {self.residual_depth} {words[0]}s of {self.stage_codebook_size}"]
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
    def top_codes(self) -> int:
        """Codes in the top level's codebook (two levels)."""
        return self.top_codebook_size or self.codebook_size

    @property
    def top_grid_size(self) -> int:
        """Side of the top code grid (two levels): half the bottom's, rounded up."""
        return (self.grid_size + 1) // 2

    def top_level(self) -> "ModelConfig":
        """The settings of the top level's quantizer: these, with the top codebook's size."""
        return dataclasses.replace(self, codebook_size=self.top_codes, levels=1, top_codebook_size=None)

    @property
    def grids_words(self) -> str:
        """"codes 7 x 7", or for two levels "top codes 4 x 4, bottom codes 7 x 7"."""
        bottom = f"codes {self.grid_size} x {self.grid_size}"
        return f"top codes {self.top_grid_size} x {self.top_grid_size}, bottom {bottom}" if self.levels == 2 else bottom

    @property
    def codes_per_image(self) -> int:
        """Code positions of one image, over the levels."""
        return self.grid_size**2 + (self.top_grid_size**2 if self.levels == 2 else 0)

    @property
    def code_bits(self) -> float:
        """The bits one image's codes take at a fixed rate: h x w x log2 K, summed over the levels."""
        bits = self.grid_size**2 * math.log2(self.codebook_size)
        return bits + (self.top_grid_size**2 * math.log2(self.top_codes) if self.levels == 2 else 0)

    @property
    def downsample(self) -> int:
        return 2**self.stages if self.arch == "conv" else self.patch

    @property
    def grid_size(self) -> int:
        """Side of the code grid."""
        return self.image_size // self.downsample

    def check_together(self) -> None:
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
        if self.levels == 2 and self.arch != "conv":
            raise VQVAEError("two levels are built from strided convolutions: use --arch conv, or --levels 1")
        if self.levels == 1 and self.top_codebook_size is not None:
            raise VQVAEError("a top codebook size needs two levels: add --levels 2, or drop --top-codebook-size")
        if self.levels == 2 and self.quantizer == "fsq" and self.top_codebook_size is not None:
            raise VQVAEError("FSQ's codes follow from its levels at both levels: drop --top-codebook-size")
        if not 0 < self.ema_decay < 1:
            raise VQVAEError(f"EMA decay must lie strictly between 0 and 1, not {self.ema_decay}")
        if self.quantizer == "fsq":
            if self.cosine_codebook or self.lookup_dim:
                raise VQVAEError("FSQ has no codebook to search by cosine or in a lower dimension: drop "
                                 "--cosine-codebook and --lookup-dim, or use --quantizer plain or ema")
            if problem := _fsq_problem(self.fsq_levels):
                raise VQVAEError(problem)
        self.check_quantizer()
        if self.lookup_dim is not None and self.lookup_dim >= self.code_dim:
            raise VQVAEError(f"the lookup dimension {self.lookup_dim} must be smaller than the code dimension "
                             f"{self.code_dim}: lower --lookup-dim, or drop it to search in the code dimension")
        if self.cosine_codebook and (self.lookup_dim or self.code_dim) < 2:
            raise VQVAEError("a cosine codebook needs vectors of at least 2 numbers (1-number vectors normalise to "
                             "+-1): raise --code-dim (or --lookup-dim), or drop --cosine-codebook")


    def check_quantizer(self) -> None:
        """The settings LFQ, BSQ and residual VQ need."""
        if self.levels == 2 and (self.quantizer in BINARY or self.residual_depth > 1):
            raise VQVAEError("LFQ, BSQ and residual VQ quantise one level: use --levels 1, or another quantizer")
        if self.quantizer in BINARY:
            name = self.quantizer.upper()
            if not is_power_of_two(self.codebook_size):
                raise VQVAEError(f"{name} makes a code of each dimension's sign, so K must be a power of two, not "
                                 f"{self.codebook_size}: try {2 ** round(math.log2(self.codebook_size))}")
            if self.cosine_codebook or self.lookup_dim or self.residual_depth > 1:
                raise VQVAEError(f"{name} has no codebook to search by cosine, in a lower dimension or in stages: drop "
                                 "--cosine-codebook, --lookup-dim and --residual-depth, or use --quantizer ema")
        if self.residual_depth > 1:
            if self.quantizer not in CODEBOOKS:
                raise VQVAEError(f"residual VQ stacks learnt codebooks: use --quantizer {', '.join(CODEBOOKS)}, "
                                 "or drop --residual-depth")
            stage, depth = self.stage_codebook_size, self.residual_depth
            if stage < 2 or stage**depth != self.codebook_size:
                raise VQVAEError(f"residual VQ with depth {depth} needs K to be a whole number to the power {depth} (each "
                                 f"of the {depth} codebooks holds K^(1/{depth}) codes), not {self.codebook_size}: try "
                                 f"{max(2, stage) ** depth}")
            if self.straight_through != "ze":
                raise VQVAEError("residual VQ passes the sum of its stages straight through once: use "
                                 "--straight-through ze, or drop --residual-depth")



@dataclass
class TrainConfig(Section):
    """How to train: data, optimisation, logging."""

    dataset: str = setting("mnist", "mnist, fashion, cifar10 or folder")
    data: str | None = setting(None, "an image folder, or a folder holding a torchvision copy of the data set")
    center_crop: int | None = setting(None, "crop the central square of this size first (image folders)",
                                      label="center crop", low=1)
    download: bool = setting(False, "let torchvision download the data set when it is not found locally")
    epochs: int = setting(20, "passes over the training images", low=0)
    batch_size: int = setting(64, "images per optimiser step", label="batch size", low=1)
    lr: float = setting(1e-3, "Adam's learning rate")
    cosine: bool = setting(False, "decay the learning rate along a half cosine to 0 over the run")
    recon_loss: str = setting("mse", "mse or l1 (sharper)", label="reconstruction loss", choices=RECON_LOSSES)
    divide_by_variance: bool = setting(False, "divide the reconstruction loss by the training data's variance")
    seed: int = setting(0, "seeds the weights, the codebook and the shuffles", low=0)
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

    def check_together(self) -> None:
        check_learning_rate(self)


@dataclass
class RunConfig(RunSettings):
    """A VQ-VAE run's config.json: the model's modules and how it is trained."""

    KIND: ClassVar[str] = "vqvae"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str | None = None
