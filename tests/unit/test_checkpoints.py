"""Checkpoints in Hub layout: exact round trips, strict loading, load_vqvae on run folders."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from vqvae import VQVAE, VQVAEError, load_vqvae
from vqvae.training.vqvae_trainer import Trainer


def trained_a_little(cfg, images, steps: int = 3) -> VQVAE:
    """A model whose parameters and buffers (EMA sums, usage counters) have left their init."""
    torch.manual_seed(0)
    model = VQVAE(cfg)
    trainer = Trainer(model, 1e-2, torch.device("cpu"))
    for _ in range(steps):
        trainer.train_step(images)
    return model.eval()


def assert_same_state(a: VQVAE, b: VQVAE) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("arch", ["conv", "patch"])
@pytest.mark.parametrize("quantizer", ["plain", "ema"])
def test_save_and_load_round_trip_is_exact(tmp_path, tiny_config, mnist_batch, mnist, arch, quantizer):
    cfg = tiny_config(arch=arch, quantizer=quantizer, codebook_init="data")
    model = trained_a_little(cfg, mnist_batch)
    assert bool(model.quantizer.initialized)
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder, config=cfg)
    assert {"config.json", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["codebook_size"] == 16

    for loaded in (VQVAE.from_pretrained(str(folder)), load_vqvae(folder)):
        assert loaded.config == cfg
        assert not loaded.training  # loaded models come back in eval mode
        assert_same_state(model, loaded)
        x = mnist.val[:16].float() / 255
        codes = model.encode(x)
        assert torch.equal(loaded.encode(x), codes)
        assert torch.equal(loaded.decode(codes), model.decode(codes))
        assert torch.equal(loaded(x).reconstruction, model(x).reconstruction)


def test_load_vqvae_on_a_run_folder_gives_its_best_checkpoint(tiny_run, mnist):
    best = tiny_run / "checkpoints" / "best"
    from_folder = VQVAE.from_pretrained(str(best))
    from_run = load_vqvae(tiny_run)
    assert_same_state(from_folder, from_run)
    x = mnist.val[:16].float() / 255
    codes = from_run.encode(x)
    assert torch.equal(codes, from_folder.encode(x))
    assert torch.equal(from_run.decode(codes), from_folder.decode(codes))
    # and the weights are exactly what the safetensors file holds
    stored = load_file(str(best / "model.safetensors"))
    state = from_run.state_dict()
    assert stored.keys() == state.keys()
    assert all(torch.equal(stored[k], state[k]) for k in stored)


def test_load_vqvae_falls_back_to_last_checkpoint(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "checkpoints" / "best")
    model = load_vqvae(run)
    assert_same_state(model, VQVAE.from_pretrained(str(run / "checkpoints" / "last")))


def _checkpoint(tmp_path, tiny_config):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer="ema"))
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder, config=model.config)
    return folder


def test_loading_rejects_an_extra_key(tmp_path, tiny_config):
    folder = _checkpoint(tmp_path, tiny_config)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["quantizer.stowaway"] = torch.zeros(3)
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(VQVAEError, match="corrupt or does not match") as info:
        load_vqvae(folder)
    assert str(folder) in str(info.value)
    with pytest.raises(Exception):
        VQVAE.from_pretrained(str(folder))


@pytest.mark.parametrize("missing", ["quantizer.embed_sum", "encoder.0.weight", "quantizer.steps_unused"])
def test_loading_rejects_a_missing_key(tmp_path, tiny_config, missing):
    folder = _checkpoint(tmp_path, tiny_config)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors[missing]
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(VQVAEError, match="corrupt or does not match"):
        load_vqvae(folder)
    with pytest.raises(Exception):
        VQVAE.from_pretrained(str(folder))


def test_loading_rejects_weights_that_do_not_match_the_config(tmp_path, tiny_config):
    folder = _checkpoint(tmp_path, tiny_config)
    config = json.loads((folder / "config.json").read_text())
    config["codebook_size"] = 32
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(VQVAEError, match="corrupt or does not match"):
        load_vqvae(folder)


def test_loading_garbage_raises_vqvae_error(tmp_path, tiny_config):
    folder = _checkpoint(tmp_path, tiny_config)
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(VQVAEError, match="corrupt"):
        load_vqvae(folder)


def test_load_vqvae_on_paths_without_checkpoints(tmp_path):
    with pytest.raises(VQVAEError, match="does not exist"):
        load_vqvae(tmp_path / "nowhere")
    with pytest.raises(VQVAEError, match="no checkpoint"):
        load_vqvae(tmp_path)


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param("cuda", marks=[pytest.mark.cuda,
                                    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]),
    ],
)
def test_load_vqvae_puts_the_model_on_the_requested_device(tiny_run, device):
    model = load_vqvae(tiny_run, device)
    placed = {name: t.device.type for name, t in model.state_dict().items()}
    assert set(placed.values()) == {device}, placed
    x = torch.rand(2, 1, 28, 28, device=device)
    assert model.encode(x).device.type == device
