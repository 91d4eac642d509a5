"""The GPU path, measured in one go: the CUDA tests and the GPU bench rows.

    python scripts/gpu_check.py --out DIR [--device auto|cuda|cpu] [--quick]
    python -m bench.gpu_check ...      (the same, where the project is installed)

Made for a GPU machine lent for minutes: one command, at most about 8 minutes, and only
what such a machine has (torch, torchvision, einops, huggingface_hub, safetensors, pillow,
tqdm, pytest: no Streamlit, no Plotly, no network). It writes DIR/gpu_check.json and
DIR/gpu_check.md: the device, the versions, the CUDA tests' outcome, and every row with
ours, the baseline, their ratio and the target. `--device cpu --quick` runs the same code
small on the CPU in under a minute; the test suite runs that, so the script never rots.

Rows (ours and the baseline in the same run, on the same device):
- training throughput, MNIST preset: ours is `vqvae.train` itself, timed through its hooks
  (bench/timed.py: the uint8 images resident on the device, batches drawn and converted
  there, bf16 autocast, the losses read only every 20 steps), at the preset's batch of 32
  and at a GPU batch of 256 with the learning rate scaled by sqrt(8), against the first
  tutorial's pipeline (a per-item PIL DataLoader with one worker, fp32, batch 64, each batch copied to the device);
- the same with channels_last and with torch.compile (GPU only), to keep what wins;
- time to 22 dB on the held-out MNIST digits: the same pipelines (held-out PSNR checked
  every quarter epoch, checks not counted);
- sampling 16 x 16 and 7 x 7, batch 64: the cached sampler (CUDA graphs on a GPU) against
  the naive one, same random prior (the mnist prior preset's size), same seed, fp32, and
  whether they drew the same codes; and the cached one under bf16 autocast;
- one epoch of the `pokemon` preset (timed);
- a Train-page retrain to 18 dB: the run manager starts `train` in the background as the
  Train page does (the MNIST preset, only K changed), from start() to the first epoch at 18 dB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.baseline import run_baseline
from bench.table import compare, failed_row, holds, print_table, ratio, row, table_lines
from bench.timed import Watch, timed_training
from bench.timing import synced
from vqvae.config import PriorConfig
from vqvae.dashboard.run_manager import RunManager
from vqvae.data.datasets import ImageData, bundled_mnist
from vqvae.device import autocast, pick_device
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import Sampling, sample, sample_naive
from vqvae.presets import preset, prior_preset
from vqvae.store.run_folder import RunFolder

REPO = Path(__file__).resolve().parents[1]  # where the CUDA tests are
GPU_BATCH = 256  # the GPU batch of the MNIST preset (8x its 32), lr scaled by sqrt(8)
CUDA_TESTS_S = 240  # the CUDA tests take about a minute on a GPU; never more than this


class Sizes:
    """How big each measurement is: full on a GPU, small with --quick (CPU smoke run)."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.throughput_steps = 8 if quick else 300
        self.target_db = 12.0 if quick else 22.0
        self.max_epochs = 1 if quick else 20
        self.baseline_seconds = 20 if quick else 150
        self.baseline_images = 2000 if quick else None  # None: the whole bundled split, as ours
        self.checks_per_epoch = 16 if quick else 4  # held-out checks for the time to target ...
        self.checked_images = 200 if quick else None  # ... on this many held-out images (None: all)
        self.sampling_batch = 2 if quick else 64
        small_prior = PriorConfig(codebook_size=128, channels=16, head=16, n_blocks=3)
        self.prior = small_prior if quick else prior_preset("mnist").prior
        self.pokemon_steps = 2 if quick else None  # None: a whole epoch
        self.retrain_db = 10.0 if quick else 18.0

    def batches(self, device: torch.device) -> list[tuple[str, int]]:
        """The batches trained: a CPU smoke run takes the preset's alone (the GPU batch runs
        the same code, only slower on a CPU)."""
        gpu = [] if self.quick and device.type == "cpu" else [(f"GPU batch {GPU_BATCH}", GPU_BATCH)]
        return [("preset batch 32", 32)] + gpu


def subset(data: ImageData, n_train: int | None, n_val: int | None = None) -> ImageData:
    """The first n_train training and n_val held-out images (None: all)."""
    return ImageData(data.name, data.train[:n_train], data.val[:n_val], data.train_labels[:n_train],
                     data.val_labels[:n_val])


# --- training: vqvae.train itself, timed through its hooks (bench/timed.py) ------------------
def mnist_config(device: torch.device, batch: int, channels_last: bool = False, compiled: bool = False,
                 epochs: int = 100):
    """The MNIST preset as `train` runs it at `batch` (lr by Adam's square-root rule for a
    larger batch), on `device`; `epochs` only bounds a run that a step count stops."""
    cfg = preset("mnist")
    t = cfg.train
    t.lr = t.lr * math.sqrt(batch / t.batch_size)
    t.batch_size, t.device, t.channels_last, t.compile, t.epochs = batch, device.type, channels_last, compiled, epochs
    return cfg


def throughput_rows(data: ImageData, device: torch.device, sizes: Sizes) -> tuple[list[dict], float]:
    """Images per second of `train` on the MNIST preset (after untimed warm-up steps: cudnn
    autotuning, compilation), against the tutorial's pipeline."""
    warm = 3 if sizes.quick else 20
    variants = [(name, batch, {}) for name, batch in sizes.batches(device)]
    if device.type == "cuda":
        variants += [(f"GPU batch {GPU_BATCH}, channels_last", GPU_BATCH, {"channels_last": True}),
                     (f"GPU batch {GPU_BATCH}, torch.compile", GPU_BATCH, {"compiled": True})]
    rows, measured = [], {}
    for name, batch, options in variants:
        try:  # torch.compile may fail on a machine without a compiler: said in its row, the others still measured
            timed = timed_training(mnist_config(device, batch, **options), steps=warm + sizes.throughput_steps,
                                   warmup=warm)
            measured[name] = timed["items_per_s"]
        except Exception as exc:  # noqa: BLE001
            rows.append(failed_row(f"training throughput, MNIST preset, {name}", exc, "images/s"))
    baseline = run_baseline(subset(data, 64 * (sizes.throughput_steps + 2)), 1, 99.0, device=device)
    for name, images_per_s in measured.items():
        gpu_batch = name == f"GPU batch {GPU_BATCH}"
        rows.append(row(f"training throughput, MNIST preset, {name}", images_per_s, baseline.images_per_s, "images/s",
                        target=compare(">=", 50_000) if gpu_batch and device.type == "cuda" else None,
                        note="ours: vqvae.train (resident uint8 images, device-side batches, bf16 autocast, losses "
                             "read every 20 steps); baseline: the tutorial's pipeline (PIL DataLoader, 1 worker, fp32, "
                             "batch 64, copied per batch)"))
    return rows, baseline.images_per_s


def time_to_target_rows(data: ImageData, device: torch.device, sizes: Sizes) -> list[dict]:
    """Training seconds to the target on the held-out digits (checked every quarter epoch,
    checks not counted), `train` against the tutorial's pipeline."""
    results = {}
    for name, batch in sizes.batches(device):
        cfg = mnist_config(device, batch, epochs=sizes.max_epochs)
        watch = Watch(sizes.target_db, data.val[: sizes.checked_images], sizes.checks_per_epoch, stop=True)
        results[name] = timed_training(cfg, watch=watch)
    base_data = subset(data, sizes.baseline_images)
    base = run_baseline(base_data, sizes.max_epochs, sizes.target_db, device=device, max_seconds=sizes.baseline_seconds)
    base_seconds = base.seconds_to_target
    note = f"baseline: the tutorial's pipeline, {base.final_psnr:.2f} dB after {base.epochs} epochs"
    if sizes.baseline_images:
        note += f" of its first {sizes.baseline_images:,} images"
    if base_seconds is None:  # never reached: its whole training time is a lower bound
        base_seconds = base.epochs * len(base_data.train) / base.images_per_s
        note += f"; never {sizes.target_db:g} dB, so its full training time stands in (the ratio is a lower bound)"
    return [row(f"time to {sizes.target_db:g} dB, MNIST, {name}", r["seconds_to_target"], base_seconds, "s",
                bigger_is_better=False, target=ratio(">=", 5) if not sizes.quick else None,
                note=note + f"; ours {r['final']['val_psnr']:.2f} dB after {r['total_steps']} steps")
            for name, r in results.items()]


def pokemon_row(device: torch.device, sizes: Sizes) -> dict:
    """One epoch of the pokemon preset as `train` runs it (augmentation on the device)."""
    cfg = preset("pokemon")
    cfg.train.device = device.type
    per_epoch = math.ceil(640 / cfg.train.batch_size)  # the bundled training split
    steps = sizes.pokemon_steps or per_epoch
    timed = timed_training(cfg, steps=steps)
    what = "one epoch" if steps == per_epoch else f"{steps} steps"
    return row(f"pokemon preset, {what} (first, cold)", timed["seconds"], None, "s", bigger_is_better=False,
               note=f"{timed['items']} images of 64 x 64, K {cfg.model.codebook_size}, augmented on the device")


def retrain_row(device: torch.device, sizes: Sizes, workdir: Path) -> dict:
    """The Train page's retrain: the run manager starts `train` in the background (the MNIST
    preset, only K changed); seconds from start() to the first epoch at the target."""
    cfg = preset("mnist")
    cfg.model.codebook_size, cfg.train.epochs, cfg.train.device = 64, 5, device.type
    if sizes.quick:  # small enough for a CPU smoke run
        cfg.model.hidden, cfg.model.res_hidden, cfg.train.epochs = 16, 16, 1
    manager = RunManager(workdir / "runs")
    started = time.perf_counter()
    run = manager.start(cfg, name="retrain-K64")
    reached = None
    while reached is None and manager.info(run).active:
        if any(r.get("val_psnr", 0) >= sizes.retrain_db for r in RunFolder(run).metrics("epoch")):
            reached = time.perf_counter() - started
        time.sleep(0.05)
    if reached is None and any(r.get("val_psnr", 0) >= sizes.retrain_db for r in RunFolder(run).metrics("epoch")):
        reached = time.perf_counter() - started
    manager.cancel(run)
    info = manager.wait(run, timeout=60)
    note = f"run ended {info.state}" + (f": {info.message}" if info.message else "")
    return row(f"Train-page retrain (K 64) to {sizes.retrain_db:g} dB, from start", reached, None, "s",
               bigger_is_better=False, note=note + "; includes the background process's start and CUDA set-up")


# --- sampling ------------------------------------------------------------------------------
def sampling_rows(device: torch.device, sizes: Sizes) -> list[dict]:
    """fp32 here means fp32: TF32 (cuDNN's default for convolutions) would let the two
    samplers' differently shaped convolutions round differently."""
    kept = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return _sampling_rows(device, sizes)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = kept


def _sampling_rows(device: torch.device, sizes: Sizes) -> list[dict]:
    torch.manual_seed(0)
    model = GatedPixelCNN(sizes.prior).to(device).eval()
    n, on_gpu = sizes.sampling_batch, device.type == "cuda"
    rows = []
    for side, target in ((16, 10), (7, 5)):
        timings, grids = {}, {}
        runs_of = [("naive", sample_naive, False), ("cached", sample, False), ("cached, bf16", sample, True)]
        for name, sampler, bf16 in runs_of:
            if bf16 and device.type != "cuda":
                continue
            for attempt in ("warm", "timed"):  # the first pass pays for graph capture (kept) and autotuning
                started = synced(device)
                with autocast(device, bf16):
                    for progress in sampler(model, n, side, side, Sampling(), torch.Generator(device).manual_seed(1)):
                        pass
                timings[name], grids[name] = synced(device) - started, progress.codes.cpu()
                if sizes.quick and name == "naive":
                    break
        same = torch.equal(grids["naive"], grids["cached"])
        p = sizes.prior
        rows.append(row(f"sampling {side}x{side}, batch {n}, cached against naive (fp32)", timings["cached"],
                        timings["naive"], "s", bigger_is_better=False,
                        target=ratio(">=", target) & holds("identical codes", "identical") if on_gpu else None,
                        note=f"prior K {p.codebook_size}, {p.channels} channels, {p.n_blocks} blocks, random weights; "
                             + ("identical codes" if same else "WARNING: the samplers drew different codes"),
                        identical=same))
        if "cached, bf16" in timings:
            rows.append(row(f"sampling {side}x{side}, batch {n}, cached in bf16 against naive (fp32)",
                            timings["cached, bf16"], timings["naive"], "s", bigger_is_better=False,
                            note="bf16 autocast: codes may differ from fp32's"))
    return rows


# --- the check -----------------------------------------------------------------------------
def cuda_tests() -> dict:
    """`pytest -m cuda` on the files that hold the CUDA tests (only torch-side imports)."""
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider",
               "tests/unit/test_cuda.py", "tests/unit/test_checkpoints.py"]
    started = time.perf_counter()
    # Its own session: on a timeout the whole group goes, the runs its run-manager test started included.
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, returncode = proc.communicate(timeout=CUDA_TESTS_S)[0], proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, returncode = proc.communicate()[0] + f"\ntimed out after {CUDA_TESTS_S} s", -9
    lines = output.strip().splitlines()
    return {"returncode": returncode, "summary": lines[-1] if lines else "", "seconds": time.perf_counter() - started,
            "tail": "\n".join(lines[-30:])}


def versions(device: torch.device) -> dict:
    found = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import torchvision

        found["torchvision"] = torchvision.__version__
    except Exception as exc:  # noqa: BLE001 (what the machine lacks is reported, not fatal)
        found["torchvision"] = f"not importable ({type(exc).__name__})"
    if device.type == "cuda":
        found |= {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                  "device": torch.cuda.get_device_name(device)}
    else:
        found["device"] = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return found


def markdown(report: dict) -> str:
    v = report["versions"]
    lines = [f"# GPU check, {report['date']}", "",
             f"Device: **{v['device']}**; " + ", ".join(f"{k} {val}" for k, val in v.items() if k != "device")
             + f"; {'quick' if report['quick'] else 'full'} run, {report['seconds']:.0f} s.", "",
             f"CUDA tests (`pytest -m cuda`): {report['cuda_tests']['summary']} (exit status "
             f"{report['cuda_tests']['returncode']})", ""]
    return "\n".join(lines + table_lines(report["rows"])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where gpu_check.json and gpu_check.md go")
    parser.add_argument("--device", default="auto", help="auto (default), cuda or cpu")
    parser.add_argument("--quick", action="store_true", help="everything small: a smoke run (under a minute on a CPU)")
    args = parser.parse_args(argv)
    try:
        device = pick_device(args.device)
        args.out.mkdir(parents=True, exist_ok=True)
    except Exception as exc:  # noqa: BLE001 (a bad device or folder: one line)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = Sizes(args.quick)
    started = time.perf_counter()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "versions": versions(device), "rows": []}
    report["cuda_tests"] = cuda_tests()
    data = bundled_mnist()  # what `train --preset mnist` trains on (the baseline's part of it: Sizes)
    steps = [("training throughput", lambda: throughput_rows(data, device, sizes)[0]),
             ("sampling", lambda: sampling_rows(device, sizes)),
             ("time to target", lambda: time_to_target_rows(data, device, sizes)),
             ("pokemon", lambda: [pokemon_row(device, sizes)]),
             ("retrain", lambda: [retrain_row(device, sizes, args.out)])]
    for name, measure in steps:  # one failing part is reported; the others still run
        try:
            report["rows"] += measure()
        except Exception as exc:  # noqa: BLE001
            report["rows"].append(failed_row(name, exc))
        print(f"{name} done at {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    report["seconds"] = time.perf_counter() - started
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print_table(report["rows"], f"GPU check on {report['versions']['device']}; {report['seconds']:.0f} s; "
                                f"CUDA tests: {report['cuda_tests']['summary']}\n")
    return 0 if report["cuda_tests"]["returncode"] in (0, 5) else 1


if __name__ == "__main__":
    sys.exit(main())
