"""Benchmark: the library beside a straightforward reimplementation of the tutorial's pipeline.

    python scripts/bench.py [--quick | --dashboard | --reliability | --pokemon | --full-size | --interaction | --quality
                             | --variants EPOCHS [--variants-data pokemon]]
                            [--json PATH]

Everything runs in one process and one table, so the ratios compare like with like on
a shared, noisy machine. Ratios are oriented so that bigger is better.

Baseline (the first tutorial's MNIST recipe): per-item PIL transforms in a DataLoader
(one worker), broadcast nearest-neighbour search, the same conv model with K 32, D 32,
hidden 32, plain Adam at 1e-3, batch 64.
Ours: the `mnist` preset through vqvae.training.vqvae_trainer.Trainer on in-memory uint8 tensors.

Rows:
- time to 22 dB: training wall time (evaluation excluded) until the 1,000 held-out images
  reach 22 dB PSNR, checked every quarter epoch.
- held-out PSNR / perplexity after the preset's 20 epochs (EMA and plain codebooks).
- training throughput in images per second.
- prior held-out NLL: the mnist prior preset trained (train_prior, as the CLI) on the codes
  of the EMA model above; best held-out nats per code against the unigram baseline.
- sample quality (also alone with --quality): that prior against the first tutorial's prior
  recipe trained as long on the same codes, both scored by the bundled classifier (label
  accuracy, Fréchet distance), and the bundled mnist-ema-prior's score against its targets
  (scripts/bench_quality.py).
- sampling 7x7, 16x16: the fast streaming sampler against the naive one (whole network per
  position), same prior, batch and seed.
- dashboard (--dashboard, a run of its own, so the full one stays short): reconstructing an
  upload (cached model vs a model loaded per upload), page reruns with models cached
  (AppTest), the delay from a run's first logged step to its curves in Chromium and page
  reloads there (tests/test_browser.py), and a retrain with another K to 18 dB as a
  background run.
- reliability (--reliability, a run of its own): the Codebook page's rerun with its models
  cached for a model of the largest codebook the CLI accepts, beside the bundled K 128.
  These two sets of rows live in scripts/bench_dashboard.py.
- pokemon held-out PSNR (also alone with --pokemon): the `pokemon` preset against the second
  tutorial's patch-MLP recipe, the same training time each (scripts/bench_pokemon.py).
- full-size reconstruction (also alone with --full-size): a 4000 x 3000 colour JPEG read,
  fitted to the 256-pixel cap, encoded and decoded by a cached colour conv model, against
  PIL's full decode (no draft), a resize and the same model.
- codebook variants (also alone with --variants EPOCHS [--variants-data pokemon]): every
  variant of vqvae.training.variants on the mnist preset for 10 epochs at equal code bits,
  against the data-initialised EMA preset: held-out PSNR, perplexity / K, steps to 22 dB;
  FSQ's codes in use and k-means against data init as targets; then the same on pokemon
  without targets (scripts/bench_variants.py).
- sampling step in step mode and 10-step walk (also alone with --interaction): the
  server-side work behind one click on the bundled models (scripts/bench_interaction.py).
- nearest-code memory: peak resident memory added by one nearest-code search for
  K 512, D 64 over 16,384 vectors (Linux VmHWM, reset before each form).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_quality import bundled_rows, quality_rows, sample_quality_rows, train_ours  # noqa: E402
from bench_timing import median_seconds  # noqa: E402
from bench_variants import variant_rows  # noqa: E402
from vqvae.config import ModelConfig  # noqa: E402
from vqvae.data.datasets import bundled_mnist, to_float  # noqa: E402
from vqvae.models.autoencoder import VQVAE, conv_decoder, conv_encoder  # noqa: E402
from vqvae.models.metrics import psnr  # noqa: E402
from vqvae.models.pixelcnn import GatedPixelCNN  # noqa: E402
from vqvae.models.quantize import nearest_code  # noqa: E402
from vqvae.models.sampling import Sampling, sample, sample_naive  # noqa: E402
from vqvae.presets import preset, prior_preset  # noqa: E402
from vqvae.training.evaluate import evaluate  # noqa: E402
from vqvae.training.loop import epoch_order  # noqa: E402
from vqvae.training.sample_quality import DEFAULT_N  # noqa: E402
from vqvae.training.vqvae_trainer import Trainer


# --- the baseline, as the tutorial wrote it ---------------------------------------------
class PILDigits(Dataset):
    """Digits kept as PIL images, converted per item (as torchvision's MNIST does)."""

    def __init__(self, images: torch.Tensor):
        self.images = [Image.fromarray(im[0].numpy(), mode="L") for im in images]
        self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def broadcast_nearest(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The textbook form: every distance at once through an [N, K, D] difference tensor."""
    return ((z[:, None, :] - codebook[None, :, :]) ** 2).sum(-1).argmin(1)


class BaselineVQVAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.encoder, self.decoder = conv_encoder(config), conv_decoder(config)
        k = config.codebook_size
        self.codebook = nn.Embedding(k, config.code_dim)
        self.codebook.weight.data.uniform_(-1 / k, 1 / k)

    def forward(self, x):
        z = self.encoder(x)
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = broadcast_nearest(flat, self.codebook.weight)
        q = self.codebook(idx)
        vq_loss = F.mse_loss(q, flat.detach()) + 0.25 * F.mse_loss(flat, q.detach())
        q = flat + (q - flat).detach()
        recon = self.decoder(q.view(b, h, w, d).permute(0, 3, 1, 2))
        return recon, idx, vq_loss


BASELINE_CONFIG = ModelConfig(hidden=32, res_hidden=32, codebook_size=32, code_dim=32, quantizer="plain")


@dataclass
class Curve:
    """What a timed training run measured."""

    seconds_to_target: float | None
    final_psnr: float
    perplexity: float
    images_per_s: float
    epochs: int
    model: nn.Module | None = None


@torch.no_grad()
def baseline_eval(model: BaselineVQVAE, val: torch.Tensor) -> tuple[float, float]:
    model.eval()
    x = val.to(model.codebook.weight.device).float() / 255
    recon, idx, _ = model(x)
    counts = torch.bincount(idx, minlength=model.codebook.num_embeddings).float()
    p = counts / counts.sum()
    ppl = math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())
    model.train()
    return psnr(F.mse_loss(recon.clamp(0, 1), x).item()), ppl


def run_baseline(data, epochs: int, target_db: float, seed: int = 0, device: torch.device = torch.device("cpu"),
                 max_seconds: float | None = None) -> Curve:
    """The tutorial's pipeline on `device` (each batch copied there, as the tutorial does),
    stopped after `epochs` or once `max_seconds` of training have passed."""
    torch.manual_seed(seed)
    model = BaselineVQVAE(BASELINE_CONFIG).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(PILDigits(data.train), batch_size=64, shuffle=True, num_workers=1, persistent_workers=True)
    check_every = max(1, len(loader) // 4)
    trained, hit, seen, done = 0.0, None, 0, 0
    for _ in range(epochs):
        if max_seconds is not None and trained >= max_seconds:
            break
        done += 1
        started, step = time.perf_counter(), 0
        for x in loader:
            x = x.to(device)
            recon, _, vq_loss = model(x)
            loss = F.mse_loss(recon, x) + vq_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            seen += len(x)
            if hit is None and step % check_every == 0:
                trained += synced(device) - started
                if baseline_eval(model, data.val)[0] >= target_db:
                    hit = trained
                started = synced(device)
        trained += synced(device) - started
        if hit is None and baseline_eval(model, data.val)[0] >= target_db:
            hit = trained
    final, ppl = baseline_eval(model, data.val)
    return Curve(hit, final, ppl, seen / trained, done)


def synced(device: torch.device) -> float:
    """The clock once the device has finished what was queued (GPU work is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def run_ours(data, quantizer: str, epochs: int, target_db: float) -> Curve:
    cfg = preset("mnist")
    cfg.model.quantizer = quantizer
    t = cfg.train
    torch.manual_seed(t.seed)
    trainer = Trainer(VQVAE(cfg.model), t.lr, torch.device("cpu"), t.recon_loss)
    steps = math.ceil(len(data.train) / t.batch_size)
    check_every = max(1, steps // 4)
    trained, hit, seen = 0.0, None, 0
    for epoch in range(epochs):
        order = epoch_order(len(data.train), t.seed, epoch)
        started = time.perf_counter()
        for b in range(steps):
            batch = to_float(data.train[order[b * t.batch_size : (b + 1) * t.batch_size]], trainer.device)
            trainer.train_step(batch)
            seen += len(batch)
            if hit is None and (b + 1) % check_every == 0:
                trained += time.perf_counter() - started
                if evaluate(trainer.model, data.val)["val_psnr"] >= target_db:
                    hit = trained
                started = time.perf_counter()
        trained += time.perf_counter() - started
    final = evaluate(trainer.model, data.val)
    return Curve(hit, final["val_psnr"], final["perplexity"], seen / trained, epochs, trainer.model)


# --- memory of the nearest-code search --------------------------------------------------
def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(fn) -> float:
    """Peak resident memory (MiB) that fn adds: VmHWM after minus VmRSS before, with the
    high-water mark reset first (Linux clear_refs)."""
    before = _vm("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    fn()
    return (_vm("VmHWM:") - before) / 2**20


def nearest_code_memory(n: int = 16384, k: int = 512, d: int = 64) -> tuple[float, float, bool]:
    g = torch.Generator().manual_seed(0)
    z, codes = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    ours = peak_memory(lambda: nearest_code(z, codes))
    base = peak_memory(lambda: broadcast_nearest(z, codes))
    same = bool((nearest_code(z, codes) == broadcast_nearest(z, codes)).float().mean() > 0.999)
    return ours, base, same


# --- the prior --------------------------------------------------------------------------
# --- sampling the prior -----------------------------------------------------------------
SAMPLING_PRIOR = prior_preset("mnist").prior  # K 128, as the mnist VQ-VAE preset


def sampling_speed(side: int, batch: int) -> tuple[float, float, bool]:
    """Seconds for the naive and the fast sampler to fill a side x side grid for `batch`
    images, same model, same seed; and whether they drew the same codes."""
    torch.manual_seed(0)
    model = GatedPixelCNN(SAMPLING_PRIOR).eval()
    timings, grids = [], []
    for sampler in (sample_naive, sample):
        started = time.perf_counter()
        for progress in sampler(model, batch, side, side, Sampling(), torch.Generator().manual_seed(1)):
            pass
        timings.append(time.perf_counter() - started)
        grids.append(progress.codes.clone())
    return timings[1], timings[0], bool(torch.equal(*grids))


# --- an upload at full size ---------------------------------------------------------------
def full_size_speed(repeats: int = 5) -> tuple[float, float, str]:
    """Median seconds from the bytes of a 4000 x 3000 colour JPEG to its full-size
    reconstruction: ours (read_image_full: a draft decode at 1/8 scale, then the cap) against
    a full decode, a resize and the same model; with the model's name and sizes for the note.
    The model is loaded once, as the page caches it; its weights do not change the timing."""
    import numpy as np

    from vqvae.store.load import load_vqvae
    from vqvae.data.uploads import FULL_SIZE_CAP, read_image_full
    from vqvae.training.evaluate import reconstruct

    y, x = np.mgrid[0:3000, 0:4000]
    ramps = np.stack([x * 255 // 3999, y * 255 // 2999, (x + y) * 255 // 6998], axis=-1)
    grain = np.random.default_rng(0).integers(-30, 31, ramps.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(ramps + grain, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    jpeg = buffer.getvalue()
    folder = REPO / "pretrained" / "pokemon-ema"
    model = load_vqvae(folder) if folder.is_dir() else VQVAE(preset("pokemon").model)
    model.eval()
    multiple = model.config.downsample

    def ours():
        upload = read_image_full(jpeg, 3, multiple, FULL_SIZE_CAP)
        return reconstruct(model, upload.images, upload.picture_size)

    @torch.no_grad()
    def baseline():
        im = Image.open(io.BytesIO(jpeg)).convert("RGB")  # every one of the 12 million pixels decoded
        scale = FULL_SIZE_CAP / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        x = transforms.ToTensor()(im).unsqueeze(0)
        x = F.pad(x, (0, -x.shape[-1] % multiple, 0, -x.shape[-2] % multiple), mode="replicate")
        return model.decode(model.encode(x))

    result = ours()
    h, w = result.codes.shape[-2:]
    name = "pretrained/pokemon-ema" if folder.is_dir() else "the pokemon preset's model, untrained"
    note = (f"{len(jpeg) / 1e6:.1f} MB JPEG, quality 90 -> {result.reconstruction.shape[-1]} x "
            f"{result.reconstruction.shape[-2]} pixels, {w} x {h} codes, {result.psnr:.1f} dB; {name}; median of {repeats}")
    return median_seconds(ours, repeats), median_seconds(baseline, repeats), note


def full_size_rows() -> list[dict]:
    ours, base, note = full_size_speed()
    rows = [row("full-size reconstruction", ours, base, "s", bigger_is_better=False, target="< 1 s",
                note=note + "; baseline: PIL's full decode (no draft), a resize and the same model")]
    rows[-1]["met"] = ours < 1
    return rows


# --- the table --------------------------------------------------------------------------
def row(name, ours, baseline, unit, bigger_is_better=True, target=None, note=""):
    if ours is None or baseline is None or min(ours, baseline) <= 0:
        ratio = None
    else:
        ratio = (ours / baseline) if bigger_is_better else (baseline / ours)
    return {"name": name, "ours": ours, "baseline": baseline, "ratio": ratio, "unit": unit, "target": target, "note": note}


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def table_lines(rows: list[dict]) -> list[str]:
    """The rows as a Markdown table, then each row's note (the bench's and the GPU check's)."""
    lines = ["| row | ours | baseline | ratio | unit | target | met |", "|---|---:|---:|---:|---|---|---|"]
    for r in rows:
        met = "-" if r["target"] is None else ("yes" if r.get("met") else "NO")
        lines.append(f"| {r['name']} | {fmt(r['ours'])} | {fmt(r['baseline'])} | {fmt(r['ratio'])} | {r['unit']} | "
                     f"{r['target'] or '-'} | {met} |")
    return lines + [f"- {r['name']}: {r['note']}" for r in rows if r["note"]]


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    print("\n".join(table_lines(rows)))


def machine_name() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs and an 18 dB target (a minute or two)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--dashboard", action="store_true", help="only the dashboard rows (a few minutes)")
    parser.add_argument("--reliability", action="store_true", help="only the bounds rows (issue 11; under a minute)")
    parser.add_argument("--pokemon", action="store_true", help="only the Pokémon row (issue 13; about 4 minutes)")
    parser.add_argument("--full-size", action="store_true", help="only the full-size reconstruction row (issue 13; seconds)")
    parser.add_argument("--interaction", action="store_true", help="only the step-mode and walk rows (issue 14; seconds)")
    parser.add_argument("--variants", type=int, metavar="EPOCHS", help="only the codebook-variant rows, each variant "
                                                                        "trained this many epochs (issue 15; 10: about 15 minutes)")
    parser.add_argument("--variants-data", choices=("mnist", "pokemon"), default="mnist",
                        help="the data set of --variants (pokemon: about 4 minutes a variant for 10 epochs)")
    parser.add_argument("--quality", action="store_true", help="only the sample-quality rows (issue 14; about 25 minutes, "
                                                               "3 with --quick)")
    args = parser.parse_args()
    from bench_dashboard import dashboard_rows, reliability_rows  # the pages' rows, in a file of their own
    from bench_interaction import interaction_rows
    from bench_pokemon import pokemon_rows

    # The runs of a few rows alone: flag -> (title, the rows)
    alone = {"pokemon": ("Pokémon", lambda: pokemon_rows(row, args.quick)), "full_size": ("full size", full_size_rows),
             "interaction": ("interaction", lambda: interaction_rows(row)),
             "quality": ("sample quality", lambda: sample_quality_rows(row, args.quick)),
             "variants": ("codebook variants", lambda: variant_rows(row, args.variants, dataset=args.variants_data)), "reliability": ("reliability", reliability_rows), "dashboard": ("dashboard", lambda: dashboard_rows(bundled_mnist()))}
    for flag, (title, make_rows) in alone.items():
        if getattr(args, flag):  # (--variants takes its epochs: any positive number)
            started = time.perf_counter()
            rows = make_rows()
            print_table(rows, f"VQ-VAE Lab bench ({title}) on {machine_name()}; {time.perf_counter() - started:.0f} s\n")
            if args.json:
                args.json.write_text(json.dumps({"machine": machine_name(), "rows": rows}, indent=2))
            return 0

    epochs = 2 if args.quick else preset("mnist").train.epochs
    target_db = 18.0 if args.quick else 22.0
    data = bundled_mnist()
    k = preset("mnist").model.codebook_size
    started = time.perf_counter()

    mem_ours, mem_base, same = nearest_code_memory()
    sampling = {side: (batch, *sampling_speed(side, batch))
                for side, batch in ((7, 8 if args.quick else 64), (16, 2 if args.quick else 32))}
    base = run_baseline(data, epochs, target_db)
    ema = run_ours(data, "ema", epochs, target_db)
    plain = run_ours(data, "plain", epochs, target_db)
    prior_model, prior_seconds, prior = train_ours(ema.model, args.quick)

    rows = []
    reached = ema.seconds_to_target is not None
    note = "" if base.seconds_to_target is not None else f"baseline never reached {target_db:g} dB in {epochs} epochs: ratio is a lower bound, counted at its full training time"
    rows.append(row(f"time to {target_db:g} dB", ema.seconds_to_target,
                    base.seconds_to_target if base.seconds_to_target is not None else epochs * len(data.train) / base.images_per_s,
                    "s", bigger_is_better=False, target=None if args.quick else ">= 2x", note=note if reached else f"ours never reached {target_db:g} dB"))
    rows[-1]["met"] = reached and rows[-1]["ratio"] >= 2
    rows.append(row(f"held-out PSNR after {epochs} epochs, EMA", ema.final_psnr, base.final_psnr, "dB",
                    target=None if args.quick else ">= 24 dB"))
    rows[-1]["met"] = ema.final_psnr >= 24
    rows.append(row(f"held-out PSNR after {epochs} epochs, plain", plain.final_psnr, base.final_psnr, "dB",
                    target=None if args.quick else ">= 23 dB"))
    rows[-1]["met"] = plain.final_psnr >= 23
    rows.append(row("held-out perplexity / K, EMA", ema.perplexity / k, base.perplexity / BASELINE_CONFIG.codebook_size,
                    "fraction", target=None if args.quick else ">= 0.6", note=f"ours K = {k}, baseline K = 32"))
    rows[-1]["met"] = ema.perplexity / k >= 0.6
    rows.append(row("held-out perplexity / K, plain", plain.perplexity / k, base.perplexity / BASELINE_CONFIG.codebook_size, "fraction"))
    rows.append(row("training throughput, EMA", ema.images_per_s, base.images_per_s, "images/s",
                    note=f"ours: the preset's model (width {preset('mnist').model.hidden}, K {k}, batch {preset('mnist').train.batch_size}) "
                         "on in-memory tensors; baseline: width 32, K 32, batch 64 through a per-item PIL DataLoader"))
    rows.append(row("nearest-code memory", mem_ours, mem_base, "MiB", bigger_is_better=False, target=">= 10x",
                    note="" if same else "WARNING: the two searches disagree"))
    rows[-1]["met"] = rows[-1]["ratio"] >= 10

    # Reported, no longer a target: issue 14 measures the prior by its samples (the rows below).
    pc = prior_model.config
    rows.append(row("prior held-out NLL, EMA codes", prior["best_val_nll"], prior["unigram_nll"], "nats/code",
                    bigger_is_better=False,
                    note=f"baseline: the unigram model (training code frequencies); uniform ln K = {math.log(k):.2f}; "
                         f"prior {pc.n_blocks} blocks x {pc.channels} channels, head {pc.head}, "
                         f"{'class-conditional, ' if pc.n_classes else ''}{prior['epochs']} epochs, shift {prior['shift']}, "
                         f"{prior_seconds / 60:.1f} min of training"))
    rows += quality_rows(row, ema.model, prior_model, prior_seconds, 200 if args.quick else DEFAULT_N)
    rows += bundled_rows(row, 200 if args.quick else DEFAULT_N)
    p = SAMPLING_PRIOR
    for side, (batch, fast, naive, identical) in sampling.items():
        rows.append(row(f"sampling {side}x{side}", fast, naive, "s", bigger_is_better=False,
                        target=None if args.quick else (">= 1.7x" if side == 7 else ">= 4x"),
                        note=f"batch {batch}, prior K {p.codebook_size}, {p.channels} channels, {p.n_blocks} blocks, random weights; "
                             f"{batch / fast:.1f} images/s fast, {batch / naive:.2f} naive; "
                             + ("identical codes" if identical else "WARNING: the samplers drew different codes")))
        rows[-1]["met"] = rows[-1]["ratio"] >= (1.7 if side == 7 else 4)
    # The codebook variants at equal bits: three of them for one epoch in a quick run.
    rows += variant_rows(row, 1, ["ema", "fsq", "ema, k-means init"]) if args.quick else variant_rows(row, 10)
    if not args.quick:
        rows += variant_rows(row, 10, dataset="pokemon")
    rows += pokemon_rows(row, args.quick)
    rows += full_size_rows()
    rows += interaction_rows(row)
    machine = machine_name()
    print_table(rows, f"VQ-VAE Lab bench ({'quick' if args.quick else 'full'}) on {machine}; {time.perf_counter() - started:.0f} s\n")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "quick": args.quick, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
