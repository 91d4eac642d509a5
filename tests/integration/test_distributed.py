"""Training under torchrun: two CPU processes (gloo) must end with the same model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO
from vqvae.store.load import load_vqvae
from vqvae.store.run_folder import RunFolder


def torchrun(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "vqvae", *args]
    return subprocess.run(list(map(str, command)), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())


# One run per way a codebook stays equal across ranks: EMA statistics all-reduced (with
# k-means seeds and restarts broadcast from rank 0, and the usage counts all-reduced, which is
# all FSQ and LFQ share), and codes learnt by their loss (residual SimVQ: a shared map, each
# stage's restarts solved through it); the plain codebook and the plain EMA take the same paths.
@pytest.mark.parametrize("quantizer, extra", [("ema", ("--codebook-init", "kmeans", "--ema-bias-correction")),
                                              ("simvq", ("--residual-depth", "2"))],
                         ids=["kmeans-bias-corrected-ema", "residual-simvq"])
def test_two_ranks_end_with_identical_weights_and_codebooks(quantizer, extra, tmp_path):
    out = tmp_path / quantizer
    result = torchrun("train", "--out", out, "--quantizer", quantizer, "--hidden", 16, "--codebook-size", 16,
                      "--code-dim", 4, "--epochs", 1, "--batch-size", 600, "--restart-dead-codes",
                      "--dead-code-window", 3, "--log-every", 5, "--no-progress", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    status = RunFolder(out).status()
    assert status["state"] == "done" and status["ranks"] == 2
    assert status["ranks_in_sync"] is True  # checksums of every parameter and buffer, gathered from both ranks
    assert status["step"] == 15  # 9,000 images in global batches of 600: as on one process
    assert load_vqvae(out).config.quantizer == quantizer
    assert len(RunFolder(out).metrics("epoch")) == 1  # rank 1 wrote nothing


def test_the_prior_trains_under_torchrun(tmp_path, trained_run):
    out = tmp_path / "prior"
    result = torchrun("train-prior", "--vqvae", trained_run, "--out", out, "--epochs", 1, "--prior-channels", 8,
                      "--blocks", 2, "--head", 8, "--batch-size", 500, "--samples", 4, "--shift", 0, "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    status = RunFolder(out).status()
    assert status["state"] == "done" and status["ranks"] == 2 and status["ranks_in_sync"] is True
