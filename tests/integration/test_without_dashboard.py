"""The library stands without the dashboard: with streamlit and plotly unimportable (as on
the GPU machines), `import vqvae`, training, prior training and sampling all work."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

BLOCKED = """
import importlib.abc, sys

class NoDashboard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("streamlit", "plotly"):
            raise ImportError(f"{name} is not installed here")
        return None

sys.meta_path.insert(0, NoDashboard())
"""

SCRIPT = BLOCKED + """
import tempfile
from pathlib import Path

import vqvae
from vqvae import ModelConfig, RunConfig, TrainConfig, train_prior
from vqvae.training.prior_trainer import new_prior_config
from vqvae.models.sampling import sample_images
from vqvae.training.vqvae_trainer import train

try:
    import streamlit
except ImportError:
    pass
else:
    raise SystemExit("the blocker does not block")

root = Path(tempfile.mkdtemp())
cfg = RunConfig(ModelConfig(hidden=16, res_hidden=8, codebook_size=16, code_dim=4),
                TrainConfig(dataset="mnist", epochs=1, batch_size=512, device="cpu"))
assert train(cfg, root / "vqvae", progress=False)["state"] == "done"
prior = new_prior_config(root / "vqvae")
prior.prior.channels, prior.prior.head, prior.prior.n_blocks = 8, 8, 2
prior.train.epochs, prior.train.shift, prior.train.batch_size, prior.train.device = 1, 0, 512, "cpu"
assert train_prior(prior, root / "prior", progress=False)["state"] == "done"
images = sample_images(vqvae.load_prior(root / "prior"), vqvae.load_vqvae(root / "vqvae"), 4, seed=1)
assert images.shape == (4, 1, 28, 28)
assert not [m for m in sys.modules if m.split(".")[0] in ("streamlit", "plotly")]
print("ok")
"""


def test_train_and_sample_without_streamlit_or_plotly():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
