"""VQ-VAE Lab's library: models, codebooks, data, training and checkpoints (no Streamlit here)."""

from .config import PRESETS, ModelConfig, RunConfig, TrainConfig, preset
from .errors import VQVAEError
from .model import VQVAE, load_vqvae
from .quantize import EMAVectorQuantizer, VectorQuantizer, nearest_code

__all__ = [
    "PRESETS", "ModelConfig", "RunConfig", "TrainConfig", "preset", "VQVAEError", "VQVAE", "load_vqvae",
    "EMAVectorQuantizer", "VectorQuantizer", "nearest_code",
]
