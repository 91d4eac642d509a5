"""Train every model whose data is here, offline, and write them as bundled models.

    python scripts/train_all.py [--out pretrained] [--runs runs/train_all] [--only NAME ...]
                                [--epochs-scale F] [--score-samples N] [--force] [--device auto]

For each VQ-VAE preset whose data is found (the bundled MNIST and Pokémon always;
Fashion-MNIST, CIFAR-10 and CelebA-HQ when present under the data root) it trains the VQ-VAE
with a plain and with an EMA codebook (same seed and settings apart from the quantizer), then
a PixelCNN prior on each one's codes (the EMA one's only, for Pokémon), and exports each
run's best checkpoint to OUT/NAME in Hub layout with its model card, pictures and training
curves. Names: `<preset>-<plain|ema>` and `<preset>-<plain|ema>-prior`; for MNIST and Pokémon also
the two-level VQ-VAE-2 at the same code bits, `<preset>-vq2`, and its priors, `<preset>-vq2-prior`. For MNIST it also
trains the Compare page's bundled comparison: four codebook variants as one matched set
(`mnist-compare-plain`, `-ema`, `-ema-rotation-trick`, `-fsq`; vqvae.training.variants).
It also trains the classifier that scores MNIST priors' samples (`mnist-classifier`, on the
bundled training split only; about two minutes).

Already exported models are skipped unless --force; an interrupted run in --runs resumes.
--epochs-scale multiplies every preset's epochs (0.05 for a quick smoke run; 0 keeps the
untrained initial models). --score-samples sets how many samples an MNIST prior's card score
draws (default 1,000, the score's own; fewer for a smoke run).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from vqvae import files
from vqvae.store import checkpoints, layout
from vqvae.store.hub import BUNDLED_DIR
from vqvae.data.datasets import bundled_data, default_data_root, load_data
from vqvae.store.export import export_folder
from vqvae.errors import VQVAEError
from vqvae.presets import PRIOR_PRESETS, preset, prior_preset
from vqvae.training.classifier_trainer import export_classifier, train_classifier
from vqvae.training.prior_trainer import train_prior
from vqvae.training.sample_quality import CLASSIFIERS, DEFAULT_N, quality_card, score
from vqvae.training.variants import comparison_name, matched_variant
from vqvae.training.vqvae_trainer import train

# preset -> where its data lives when it is not the bundled MNIST (None: the preset's own data set)
PRESET_DATA = {"mnist": None, "pokemon": None, "fashion": None, "cifar10": None, "celeba64": "celeba_hq", "celeba128": "celeba_hq"}
QUANTIZERS = ("plain", "ema")
CLASSIFIER_EPOCHS = 15  # 99.4 % held-out on the bundled MNIST split (98 % after 2)
PRIOR_QUANTIZERS = {"pokemon": ("ema",)}  # which VQ-VAEs get a prior, where not both (pretrained/ stays small)
# preset -> the codebook variants of its bundled comparison (the Compare page opens on it):
# the two of the tutorials, the rotation trick and FSQ, at the same code bits.
COMPARISONS = {"mnist": ("plain", "ema", "ema, rotation trick", "fsq")}
# VQ-VAE-2: the `two levels` variant at the preset's code bits, bundled as <preset>-vq2 with its
# prior (prior preset <preset>-vq2).
TWO_LEVELS, TWO_LEVEL_PRESETS = "two levels", ("mnist", "pokemon")
MODEL_SLUGS = {TWO_LEVELS: "vq2"}


@dataclass
class Job:
    name: str
    preset: str
    variant: str  # a name of vqvae.training.variants.VARIANTS ("plain", "ema", ...); "" for a classifier
    kind: str  # "vqvae", "prior" or "classifier"

    @property
    def vqvae_name(self) -> str:
        return f"{self.preset}-{MODEL_SLUGS.get(self.variant, self.variant)}"

    @property
    def prior(self) -> bool:
        return self.kind == "prior"


def planned_jobs(presets: list[str]) -> list[Job]:
    """The classifiers that judge samples, the VQ-VAEs (plain and EMA), their priors, then the
    bundled comparisons."""
    jobs = [Job(CLASSIFIERS[p], p, "", "classifier") for p in presets if p in CLASSIFIERS]
    jobs += [Job(f"{p}-{q}", p, q, "vqvae") for p in presets for q in QUANTIZERS]
    jobs += [Job(f"{p}-{q}-prior", p, q, "prior") for p in presets for q in PRIOR_QUANTIZERS.get(p, QUANTIZERS)]
    two = [p for p in presets if p in TWO_LEVEL_PRESETS]
    jobs += [Job(f"{p}-vq2", p, TWO_LEVELS, "vqvae") for p in two] + [Job(f"{p}-vq2-prior", p, TWO_LEVELS, "prior") for p in two]
    return jobs + [Job(comparison_name(p, v), p, v, "vqvae") for p in presets for v in COMPARISONS.get(p, ())]


def data_missing(name: str) -> str | None:
    """Why the preset's data cannot be loaded here, or None when it can."""
    cfg = preset(name)
    folder = PRESET_DATA[name]
    root = str(default_data_root() / folder) if folder else cfg.train.data
    try:
        load_data(cfg.train.dataset, cfg.model.in_channels, cfg.model.image_size, root, cfg.train.center_crop)
    except VQVAEError as exc:
        return str(exc)
    return None


def scaled(epochs: int, scale: float) -> int:
    return max(0, round(epochs * scale)) if scale < 1 else round(epochs * scale)


def run_vqvae(job: Job, run_dir: Path, scale: float, device: str, progress: bool) -> dict:
    cfg = matched_variant(preset(job.preset), job.variant).config  # the preset, only its codebook changed
    cfg.train.epochs = scaled(cfg.train.epochs, scale)
    cfg.train.device = device
    if PRESET_DATA[job.preset]:
        cfg.train.data = str(default_data_root() / PRESET_DATA[job.preset])
    if (run_dir / layout.CONFIG).exists():
        return train(None, run_dir, resume=True, progress=progress)
    return train(cfg, run_dir, progress=progress)


def run_prior(job: Job, run_dir: Path, vqvae_run: Path, scale: float, device: str, progress: bool) -> dict:
    # A bundled model's own prior preset (mnist-plain, the two-level ones), else its data set's, else MNIST's.
    cfg = prior_preset(next(name for name in (job.vqvae_name, job.preset, "mnist") if name in PRIOR_PRESETS))
    cfg.train.vqvae = str(vqvae_run)
    cfg.train.epochs = scaled(cfg.train.epochs, scale)
    cfg.train.device = device
    if (run_dir / layout.CONFIG).exists():
        return train_prior(None, run_dir, resume=True, progress=progress)
    return train_prior(cfg, run_dir, progress=progress)


def link_bundled_vqvae(prior: Path, vqvae: Path) -> bool:
    """A bundled prior carries its VQ-VAE in prior/vqvae/; when the bundled VQ-VAE `vqvae`
    beside it holds the same weights, the copy becomes a relative link to that folder, so
    the bundle keeps one copy of each model. Whether it links now."""
    copy = prior / layout.VQVAE_COPY
    if copy.is_symlink() or not (vqvae / layout.WEIGHTS).is_file() or not (copy / layout.WEIGHTS).is_file():
        return copy.is_symlink()
    if (copy / layout.WEIGHTS).read_bytes() != (vqvae / layout.WEIGHTS).read_bytes():
        return False
    staged = prior / f".{layout.VQVAE_COPY}.link"
    staged.unlink(missing_ok=True)
    staged.symlink_to(Path("..") / vqvae.name, target_is_directory=True)
    shutil.rmtree(copy)
    staged.rename(copy)
    return True


def add_sample_quality(prior: Path, device: str, samples: int = DEFAULT_N) -> None:
    """Append the prior's sample-quality score of `samples` samples to its model card (a notice
    when it cannot be had)."""
    try:
        result = score(prior, n=samples, device=device)
    except VQVAEError as exc:
        print(f"{prior.name}: no sample-quality score in its card ({exc})", file=sys.stderr)
        return
    card = prior / "README.md"
    files.atomic_write_bytes(card, (card.read_text() + quality_card(result)).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR,
                        help="where the exported models go (default: pretrained/)")
    parser.add_argument("--runs", type=Path, default=Path("runs") / "train_all", help="the run folders (default runs/train_all)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these models (and the VQ-VAEs their priors need)")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every preset's epochs (default 1)")
    parser.add_argument("--score-samples", type=int, default=DEFAULT_N, metavar="N",
                        help=f"samples an MNIST prior's card score draws (default {DEFAULT_N})")
    parser.add_argument("--force", action="store_true", help="retrain models already exported")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.epochs_scale < 0:
        parser.error("--epochs-scale must be 0 or more")
    if args.score_samples < 1:
        parser.error("--score-samples must be 1 or more")

    presets = []
    for name in PRESET_DATA:
        reason = data_missing(name)
        if reason and PRESET_DATA[name]:
            reason = f"no images in {default_data_root() / PRESET_DATA[name]} (place CelebA-HQ there to train it)"
        if reason:
            print(f"skipping {name}: {reason}", file=sys.stderr)
        else:
            presets.append(name)
    jobs = planned_jobs(presets)
    known = {j.name for j in jobs}
    if args.only:
        unknown = [n for n in args.only if n not in known]
        if unknown:
            print(f"error: unknown or skipped model(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        wanted = set(args.only) | {j.vqvae_name for j in jobs if j.name in args.only and j.prior}
        jobs = [j for j in jobs if j.name in wanted]

    try:
        for job in jobs:
            dest, run_dir = args.out / job.name, args.runs / job.name
            retrain = args.force and (not args.only or job.name in args.only)  # not the VQ-VAE a prior just needs
            if (dest / layout.WEIGHTS).is_file() and not retrain:
                print(f"{job.name}: already in {dest} (--force retrains it)")
                if job.prior:  # a bundle from before the copies were links keeps one copy too
                    link_bundled_vqvae(dest, args.out / job.vqvae_name)
                continue
            if retrain and run_dir.exists():
                shutil.rmtree(run_dir)
            if job.kind == "classifier":  # trains in one go, in a temporary run folder: nothing to resume
                print(f"{job.name}: training", flush=True)
                data = bundled_data(job.preset)
                epochs = scaled(CLASSIFIER_EPOCHS, args.epochs_scale)
                model, metrics = train_classifier(data, job.preset, epochs=epochs, device=args.device,
                                                  progress=not args.no_progress)
                export_classifier(model, metrics, data.name, dest)
                print(f"{job.name}: held-out accuracy {100 * metrics['val_accuracy']:.2f} %, exported to {dest}")
                continue
            print(f"{job.name}: training in {run_dir}", flush=True)
            if job.prior:
                vqvae = args.runs / job.vqvae_name
                if checkpoints.resolve_checkpoint_or_none(vqvae, "best") is None:  # trained earlier, run folder gone
                    vqvae = args.out / job.vqvae_name
                status = run_prior(job, run_dir, vqvae, args.epochs_scale, args.device, not args.no_progress)
            else:
                status = run_vqvae(job, run_dir, args.epochs_scale, args.device, not args.no_progress)
            if status["state"] != "done":
                print(f"{job.name}: {status['state']}; run this script again to resume", file=sys.stderr)
                return 1
            export_folder(run_dir, dest)
            if job.prior and job.preset in CLASSIFIERS:  # the card says how good its samples are
                add_sample_quality(dest, args.device, args.score_samples)
            if job.prior:
                link_bundled_vqvae(dest, args.out / job.vqvae_name)
            print(f"{job.name}: exported to {dest}")
    except VQVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run this script again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
