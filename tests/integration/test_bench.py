"""The bench's own machinery on tiny inputs, in process: a row's one target declaration
prints and checks, the timed entry trains through the library's loop (vqvae.train with
hooks) and stops where told, the report rewrites only between its markers, and the command
line writes its table and JSON.

No timing is asserted (the machine is shared).
"""

from __future__ import annotations

import json

import pytest
import torch

from bench.__main__ import main as bench_main
from bench.interaction import interaction_rows
from bench.memory import memory_rows
from bench.pokemon_baseline import PATCH, K, image_code_bits
from bench.prior_baseline import TUTORIAL_PRIOR
from bench.report import BEGIN, END, rewrite
from bench.report import main as report_main
from bench.table import against_baseline, compare, holds, ratio, row, table_lines
from bench.sampling import sampling_rows
from bench.timed import Watch, timed_training
from vqvae.data.datasets import bundled_mnist, bundled_pokemon
from vqvae.presets import preset
from vqvae.store.run_folder import RunFolder


# --- targets: declared once, printed and checked -------------------------------------------------
def test_a_target_prints_and_checks_the_same_number():
    met = row("held-out PSNR", 24.5, 22.0, "dB", target=compare(">=", 24, "dB"))
    missed = row("held-out PSNR", 23.9, 22.0, "dB", target=compare(">=", 24, "dB"))
    assert met["target"] == missed["target"] == ">= 24 dB"
    assert met["met"] is True and missed["met"] is False
    assert "| held-out PSNR | 24.50 | 22.00 | 1.11 | dB | >= 24 dB | yes |" in table_lines([met])
    assert "| held-out PSNR | 23.90 | 22.00 | 1.09 | dB | >= 24 dB | NO |" in table_lines([missed])


def test_ratio_and_baseline_targets_read_the_rows_own_columns():
    faster = row("time to 22 dB", 10.0, 25.0, "s", bigger_is_better=False, target=ratio(">=", 2))
    assert faster["ratio"] == pytest.approx(2.5) and faster["target"] == ">= 2x" and faster["met"] is True
    assert row("t", 10.0, 15.0, "s", bigger_is_better=False, target=ratio(">=", 2))["met"] is False
    fd = row("FD", 14.0, 5.0, "FD", bigger_is_better=False, target=against_baseline("<=", times=3))
    assert fd["target"] == "<= 3x baseline" and fd["met"] is True
    assert row("FD", 16.0, 5.0, "FD", target=against_baseline("<=", times=3))["met"] is False
    plus = against_baseline(">=", plus=4, unit="dB")
    assert plus.text == ">= baseline + 4 dB"
    assert row("p", 23.0, 18.9, "dB", target=plus)["met"] is True
    assert row("p", 22.0, 18.9, "dB", target=plus)["met"] is False
    assert row("l", 0.9, 0.8, "fraction", target=against_baseline(">"))["target"] == "> baseline"


def test_a_missing_number_misses_its_target_and_no_target_is_not_judged():
    assert row("curves", None, None, "s", target=compare("<", 2, "s"))["met"] is False
    assert row("steps", None, 40, "steps", target=against_baseline("<"))["met"] is False
    plain = row("throughput", 1000.0, 900.0, "images/s")
    assert plain["target"] is None and plain["met"] is None
    assert "| throughput | 1,000.00 | 900.00 | 1.11 | images/s | - | - |" in table_lines([plain])


def test_targets_combine_and_read_extra_numbers():
    live = compare("<=", 60, "s") & compare(">=", 18, "dB", of="psnr")
    assert live.text == "<= 60 s, >= 18 dB"
    assert row("epoch", 30.0, None, "s", target=live, psnr=19.0)["met"] is True
    assert row("epoch", 30.0, None, "s", target=live, psnr=17.0)["met"] is False
    assert row("epoch", 30.0, None, "s", target=live, psnr=None)["met"] is False
    same = ratio(">=", 10) & holds("identical codes", "identical")
    assert row("sampling", 1.0, 20.0, "s", bigger_is_better=False, target=same, identical=True)["met"] is True
    assert row("sampling", 1.0, 20.0, "s", bigger_is_better=False, target=same, identical=False)["met"] is False


# --- the timed entry: the library's own loop ---------------------------------------------------
def tiny_mnist():
    cfg = preset("mnist")
    cfg.model.hidden = cfg.model.res_hidden = 8
    cfg.model.codebook_size = 16
    cfg.train.batch_size, cfg.train.epochs, cfg.train.device, cfg.train.log_every = 500, 5, "cpu", 1
    return cfg


def test_a_stop_after_n_steps_stops_the_real_run_at_n(tmp_path):
    out = tmp_path / "run"
    timed = timed_training(tiny_mnist(), out, steps=3, warmup=1)
    assert timed["total_steps"] == 3 and timed["state"] == "cancelled"
    assert timed["steps"] == 2 and timed["items"] == 1000  # the warm-up step trained, not timed
    assert timed["items_per_s"] > 0 and timed["seconds"] > 0 and timed["wall_seconds"] >= timed["seconds"]
    logged = [r["step"] for r in RunFolder(out).metrics("step")]
    assert logged == [1, 2, 3]  # the loop's own metrics.jsonl: every step the hook counted
    assert RunFolder(out).status()["step"] == 3


def test_a_reached_target_stops_the_run_at_its_check(tmp_path):
    out = tmp_path / "run"
    held_out = bundled_mnist().val[:50]
    timed = timed_training(tiny_mnist(), out, watch=Watch(0.0, held_out, checks_per_epoch=6, stop=True))
    every = 18 // 6  # 9,000 images in batches of 500: 18 steps an epoch
    assert timed["steps_to_target"] == every and timed["total_steps"] == every
    assert timed["seconds_to_target"] == pytest.approx(timed["seconds"])
    assert timed["final"]["val_psnr"] > 0  # evaluated on the watched images: the run stopped mid-epoch


def test_a_whole_run_ends_done_with_the_loops_own_evaluation(tmp_path):
    cfg = preset("pokemon")
    cfg.model.hidden = cfg.model.res_hidden = 8
    cfg.train.batch_size, cfg.train.epochs, cfg.train.device = 320, 1, "cpu"  # 640 pictures: 2 steps
    data = bundled_pokemon()
    timed = timed_training(cfg, watch=Watch(99.0, data.val))
    assert timed["state"] == "done" and timed["steps"] == 2 and timed["items"] == 640
    assert timed["steps_to_target"] is None and timed["seconds_to_target"] is None
    assert len(timed["epochs"]) == 1 and timed["final"] is timed["epochs"][0]  # the loop's end-of-epoch evaluation
    assert timed["final"]["val_psnr"] > 0


# --- the report: tables generated between the markers ------------------------------------------
def report_json(title: str) -> dict:
    return {"machine": "test machine", "title": title, "command": "python -m bench --quick", "seconds": 12.0,
            "rows": [row("nearest-code memory", 20.0, 4000.0, "MiB", bigger_is_better=False, target=ratio(">=", 10),
                         note="a note that stays in the JSON")]}


def test_the_report_rewrites_only_between_the_markers(tmp_path):
    doc = tmp_path / "bench.md"
    doc.write_text(f"# Bench\n\nprose before\n\n{BEGIN}\nold table\n{END}\n\nprose after\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps(report_json("quick")))
    assert report_main([str(run), str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Bench\n\nprose before\n\n" + BEGIN + "\n") and text.endswith(END + "\n\nprose after\n")
    assert "old table" not in text and "a note that stays" not in text
    assert "**Quick** (`python -m bench --quick`, 12 s; test machine):" in text
    assert "| nearest-code memory | 20.00 | 4,000.00 | 200.00 | MiB | >= 10x | yes |" in text


def test_the_report_refuses_a_file_without_markers(tmp_path, capsys):
    with pytest.raises(ValueError):
        rewrite("no markers here\n", [report_json("quick")])
    doc = tmp_path / "bench.md"
    doc.write_text("no markers\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps(report_json("quick")))
    assert report_main([str(run), str(doc)]) == 2 and doc.read_text() == "no markers\n"
    assert capsys.readouterr().err.startswith("error:")


# --- rows whose numbers are properties of the code, not of the machine's load -------------------
@pytest.mark.slow
def test_the_nearest_code_search_needs_a_tenth_of_the_memory():
    [memory] = memory_rows(n=4096)  # a quarter of the bench's vectors: the broadcast form needs 1 GiB, not 4
    assert memory["ratio"] >= 10 and memory["met"] is True, memory
    assert "disagree" not in memory["note"]


@pytest.mark.slow
def test_the_fast_sampler_draws_the_naive_samplers_codes():
    for sampling in sampling_rows(quick=True):
        assert sampling["unit"] == "s" and sampling["ours"] > 0 and sampling["baseline"] > 0
        assert "identical codes" in sampling["note"] and sampling["identical"] is True, sampling


def test_the_pokemon_row_compares_at_fewer_code_bits():
    m = preset("pokemon").model
    assert image_code_bits(m.image_size, m.downsample, m.codebook_size) == 2816  # 16 x 16 codes of 11 bits
    assert image_code_bits(64, PATCH, K) == 7168  # the patch MLP: 32 x 32 codes of 7 bits
    assert TUTORIAL_PRIOR["n_blocks"] == 15 and TUTORIAL_PRIOR["channels"] == 128  # the first tutorial's prior


@pytest.mark.slow
def test_a_click_in_step_mode_and_a_walk_are_timed_on_both_bundled_models():
    rows = {r["name"]: r for r in interaction_rows()}
    step, walk = rows["sampling step in step mode, models cached"], rows["10-step walk, models cached"]
    assert step["unit"] == walk["unit"] == "ms" and step["ours"] > 0 and walk["ours"] > 0 and walk["baseline"] > 0
    assert "pokemon-ema" in step["note"] and "pokemon-ema" in walk["note"]
    assert step["target"] == "< 300 ms" and walk["target"] == "< 500 ms"
    stroke = rows["a canvas stroke redrawn as its reconstruction, models cached"]
    assert stroke["ours"] > 0 and stroke["baseline"] > 0 and stroke["target"] == "< 150 ms"


# --- the command line -----------------------------------------------------------------------------
@pytest.mark.slow
def test_the_command_line_writes_its_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_main(["--full-size", "--json", str(out)]) == 0
    assert "| full-size reconstruction |" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["title"] == "full size" and report["command"] == "python -m bench --full-size"
    [full] = report["rows"]
    assert full["target"] == "< 1 s" and isinstance(full["met"], bool) and full["ours"] > 0 and full["baseline"] > 0
    assert "pokemon-ema" in full["note"]


def test_the_codec_rows_weigh_real_files_against_jpeg_and_webp():
    from bench.codec import held_out_pictures, photo_picture, rows_of, weighed_pictures
    from vqvae.store.load import load_prior, load_vqvae

    prior, vqvae = load_prior("mnist-ema-prior"), load_vqvae("mnist-ema")
    rows = {r["name"].split(": ", 1)[1]: r for r in rows_of("t", weighed_pictures(prior, vqvae, held_out_pictures("mnist", vqvae, 3)))}
    assert rows["bits an image under the prior"]["met"] is True  # the prior compresses
    bound = rows["the file over the prior's bits, exact round trip"]
    assert bound["met"] is True and bound["exact"] is True
    for name in ("JPEG", "WebP"):
        assert rows[f"file bytes against {name} at equal PSNR"]["baseline"] > 0
        assert rows[f"without the headers, against {name}"]["baseline"] > 0
    (images, size), = photo_picture(load_vqvae("pokemon-ema"))
    assert images.shape[1] == 3 and size[1] == 256  # the photograph at full size, its longest side capped


def test_the_reference_rows_say_how_to_get_their_library_when_it_is_missing(monkeypatch):
    import bench.reference

    monkeypatch.setattr(bench.reference, "reference_available", lambda: False)
    with pytest.raises(SystemExit) as stopped:
        bench_main(["--reference", "1"])
    assert "pip install -e '.[reference]'" in str(stopped.value.code)
    with pytest.raises(SystemExit) as stopped:
        bench_main(["--variants", "1", "--only", "ema", "vq-gan"])
    assert "unknown --only 'vq-gan'" in str(stopped.value.code)


def test_their_quantizer_behind_ours_combines_residual_codes_as_ours_do():
    from torch import nn

    from bench.reference import Theirs
    from vqvae.config import ModelConfig

    class TwoStages(nn.Module):  # their residual VQ's return: codes, indices [B, N, stages], losses
        def forward(self, x):
            indices = torch.stack([torch.arange(x.shape[1]) % 5, torch.arange(x.shape[1]) // 5 % 5], -1)
            return x.round(), indices.expand(x.shape[0], -1, -1), torch.tensor([0.5, 0.25])

    m = ModelConfig(codebook_size=25, code_dim=3, residual_depth=2).validate()
    out = Theirs(TwoStages(), m).train()(torch.randn(2, 3, 4, 4))
    assert out.indices.shape == (2, 4, 4) and torch.equal(out.indices[0].flatten(), torch.arange(16))
    assert float(out.loss) == 0.75 and out.z_q.shape == (2, 3, 4, 4)


def test_reference_rows_over_several_seeds_report_each_sides_mean_and_every_seed(monkeypatch):
    import bench.reference
    from vqvae.training import vqvae_trainer

    def measured(cfg, data):  # theirs 1 dB over ours, each seed 1 dB over the one before
        theirs = vqvae_trainer.build_vqvae.__name__ == "build_with_theirs"
        seed = cfg.train.seed
        return dict(psnr=20.0 + seed + theirs, usage=0.5, codes_used=100 + seed, k=128)

    monkeypatch.setattr(bench.reference, "reference_available", lambda: True)
    monkeypatch.setattr(bench.reference, "train_variant", measured)
    [simvq] = bench.reference.reference_rows(1, names=["SimVQ"], seeds=3)
    assert (simvq["ours"], simvq["baseline"], simvq["seeds"]) == (21.0, 22.0, 3) and simvq["met"] is False
    assert "mean of 3 seeds" in simvq["name"] and simvq["ours_codes_used"] == 101
    assert "by seed, ours / theirs: 20.00 / 21.00 dB, 21.00 / 22.00 dB, 22.00 / 23.00 dB" in simvq["note"]
    with pytest.raises(SystemExit):
        bench_main(["--reference", "1", "--seeds", "0"])


def test_training_rows_over_several_seeds_report_each_sides_mean_and_every_seed(monkeypatch):
    import bench.mnist
    from bench.baseline import Curve

    def ours(data, quantizer, epochs, target_db, device="cpu", seed=0):  # seed 2 never reaches the target
        final = {"val_psnr": 24.0 + seed, "perplexity": 64.0}
        return {"seconds_to_target": None if seed == 2 else 2.0 + 2 * seed, "final": final, "items_per_s": 1000.0,
                "model": f"model {seed}"}

    def baseline(data, epochs, target_db, seed=0):  # seed 1 never reaches the target: all 8 s of it stand in
        return Curve(None if seed == 1 else 20.0, 22.0, 16.0, len(data.train) * epochs / 8.0, epochs)

    monkeypatch.setattr(bench.mnist, "run_ours", ours)
    monkeypatch.setattr(bench.mnist, "run_baseline", baseline)
    data = bundled_mnist()
    time, ema, _, usage, _, _ = rows = bench.mnist.mnist_rows(data, quick=False, seeds=2)[0]
    assert all("mean of 2 seeds" in r["name"] for r in rows)
    assert (time["ours"], time["baseline"], time["ratio"]) == (3.0, 14.0, pytest.approx(14 / 3))
    assert time["met"] is False and time["target"] == ">= 5x"
    assert "by seed, ours / baseline: 2.0 / 20.0 s, 4.0 / 8.0 s" in time["note"] and "lower bound" in time["note"]
    assert ema["ours"] == 24.5 and usage["ours"] == 0.5 and usage["baseline"] == 0.5
    [time] = bench.mnist.mnist_rows(data, quick=False, seeds=3)[0][:1]
    assert time["ours"] is None and time["met"] is False and "ours never reached 22 dB at seed 2" in time["note"]
    assert bench.mnist.mnist_rows(data, quick=True)[1] == "model 0"  # the prior rows learn seed 0's codes
