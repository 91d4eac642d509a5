"""The command line: `python -m vqvae train|eval|train-prior|sample ...`.

Mistakes a user can make print one line and exit with status 2; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import VQVAEError

MAX_GRID_IMAGES = 1024  # `sample --n`: one grid PNG, drawn as one batch

# CLI flag -> (section, field) of RunConfig; None means "keep the preset's value".
MODEL_FLAGS = {
    "arch": "arch", "channels": "in_channels", "image_size": "image_size", "hidden": "hidden",
    "codebook_size": "codebook_size", "code_dim": "code_dim", "stages": "stages", "patch": "patch",
    "quantizer": "quantizer", "beta": "beta", "ema_decay": "ema_decay", "codebook_init": "codebook_init",
    "straight_through": "straight_through", "restart_dead_codes": "restart_dead_codes",
    "dead_code_window": "dead_code_window",
}
TRAIN_FLAGS = {
    "dataset": "dataset", "data": "data", "center_crop": "center_crop", "download": "download", "epochs": "epochs",
    "batch_size": "batch_size", "lr": "lr", "recon_loss": "recon_loss", "divide_by_variance": "divide_by_variance",
    "seed": "seed", "device": "device", "amp": "amp", "log_every": "log_every",
}
PRIOR_FLAGS = {"prior_channels": "channels", "head": "head", "blocks": "n_blocks", "first_kernel": "first_kernel",
               "kernel": "kernel"}
PRIOR_TRAIN_FLAGS = {
    "vqvae": "vqvae", "dataset": "dataset", "data": "data", "conditional": "conditional", "shift": "shift",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "cosine": "cosine", "seed": "seed", "device": "device", "amp": "amp",
    "log_every": "log_every", "samples": "samples",
}


def build_parser() -> argparse.ArgumentParser:
    from .config import ARCHITECTURES, CODEBOOK_INITS, PRESETS, PRIOR_PRESETS, QUANTIZERS, RECON_LOSSES, STRAIGHT_THROUGH

    parser = argparse.ArgumentParser(prog="python -m vqvae", description="VQ-VAE Lab: train and evaluate VQ-VAEs.")
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train a VQ-VAE into a run folder")
    tr.add_argument("--out", required=True, type=Path, help="run folder to create (or to continue with --resume)")
    tr.add_argument("--preset", help=f"starting settings: {', '.join(PRESETS)} (default mnist)")
    tr.add_argument("--config", type=Path, help="a run config JSON file (as written to RUN/config.json); flags override it")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    m = tr.add_argument_group("model")
    m.add_argument("--arch", choices=ARCHITECTURES)
    m.add_argument("--channels", type=int, help="image channels: 1 or 3")
    m.add_argument("--image-size", type=int)
    m.add_argument("--hidden", type=int)
    m.add_argument("--codebook-size", "-K", type=int)
    m.add_argument("--code-dim", "-D", type=int)
    m.add_argument("--stages", type=int, help="conv: stride-2 stages")
    m.add_argument("--patch", type=int, help="patch: pixels per code side")
    m.add_argument("--quantizer", choices=QUANTIZERS)
    m.add_argument("--beta", type=float, help="commitment weight (default 0.25)")
    m.add_argument("--ema-decay", type=float)
    m.add_argument("--codebook-init", choices=CODEBOOK_INITS)
    m.add_argument("--straight-through", choices=STRAIGHT_THROUGH,
                   help="ze: z_e + sg(z_q - z_e); zq: z_q + (z_e - sg(z_e)), which also trains the codebook by the reconstruction")
    m.add_argument("--restart-dead-codes", action=argparse.BooleanOptionalAction, default=None)
    m.add_argument("--dead-code-window", type=int, help="steps unused before a code counts as dead")
    t = tr.add_argument_group("training")
    t.add_argument("--dataset", help="mnist, fashion, cifar10 or folder")
    t.add_argument("--data", help="an image folder, or a folder holding a torchvision copy of the data set")
    t.add_argument("--center-crop", type=int)
    t.add_argument("--download", action="store_true", default=None, help="let torchvision download the data set")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--recon-loss", choices=RECON_LOSSES)
    t.add_argument("--divide-by-variance", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto (default), cpu, cuda or mps")
    t.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast on CUDA")
    t.add_argument("--log-every", type=int)

    ev = sub.add_parser("eval", help="held-out metrics of a checkpoint")
    ev.add_argument("--model", required=True, help="a run or checkpoint folder, a bundled name or a Hub repo id")
    ev.add_argument("--dataset", help="data set to evaluate on (default: the run's, else mnist)")
    ev.add_argument("--data", help="folder for the data set")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    tp = sub.add_parser("train-prior", help="train a PixelCNN prior on the codes of a trained VQ-VAE")
    tp.add_argument("--vqvae", help="the VQ-VAE: a run or checkpoint folder, a bundled name or a Hub repo id")
    tp.add_argument("--out", required=True, type=Path, help="prior run folder to create (or to continue with --resume)")
    tp.add_argument("--preset", help=f"prior size: {', '.join(PRIOR_PRESETS)} (default: the VQ-VAE run's preset, else mnist)")
    tp.add_argument("--resume", action="store_true", help="continue the prior run in --out from its last checkpoint")
    tp.add_argument("--no-progress", action="store_true", help="no progress bar")
    tp.add_argument("--prior-channels", type=int, help="width of the gated stacks")
    tp.add_argument("--head", type=int, help="width of the 1x1 head")
    tp.add_argument("--blocks", type=int, help="gated blocks (the first is mask A)")
    tp.add_argument("--first-kernel", type=int)
    tp.add_argument("--kernel", type=int)
    tp.add_argument("--conditional", action=argparse.BooleanOptionalAction, default=None,
                    help="condition on class labels when the data has them (default: yes)")
    tp.add_argument("--shift", type=int, help="also train on the images shifted by up to this many pixels (0 to 4)")
    tp.add_argument("--cosine", action=argparse.BooleanOptionalAction, default=None,
                    help="decay the learning rate along a half cosine (default: yes)")
    tp.add_argument("--dataset", help="data to encode (default: the VQ-VAE run's)")
    tp.add_argument("--data", help="folder for the data set")
    tp.add_argument("--epochs", type=int)
    tp.add_argument("--batch-size", type=int)
    tp.add_argument("--lr", type=float)
    tp.add_argument("--seed", type=int)
    tp.add_argument("--device", help="auto (default), cpu, cuda or mps")
    tp.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast on CUDA")
    tp.add_argument("--log-every", type=int)
    tp.add_argument("--samples", type=int, help="images in each epoch's sample grid")

    sa = sub.add_parser("sample", help="draw images from a prior and save them as a grid PNG")
    sa.add_argument("--prior", required=True, help="a prior run or checkpoint folder, a bundled name or a Hub repo id")
    sa.add_argument("--vqvae", help="the VQ-VAE that decodes the codes (default: the one the prior was trained on)")
    sa.add_argument("--n", type=int, default=64, help="how many images (default 64)")
    sa.add_argument("--out", required=True, type=Path, help="the grid PNG to write")
    sa.add_argument("--temperature", type=float, default=1.0, help="below 1: safer samples; above 1: wilder")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--label", type=int, help="class to draw from a class-conditional prior (default: each in turn)")
    sa.add_argument("--nrow", type=int, help="images per row of the grid")
    sa.add_argument("--device", default="auto")
    sa.add_argument("--no-progress", action="store_true", help="no progress bar")

    pu = sub.add_parser("push", help="upload a run's best checkpoint, model card and pictures to a Hugging Face Hub repo")
    pu.add_argument("model", help="a run folder, a checkpoint folder or a bundled name")
    pu.add_argument("repo_id", help="owner/name of a model repo (created when missing)")
    pu.add_argument("--path-in-repo", help="a folder inside the repo (a repo laid out like pretrained/ holds several models)")
    pu.add_argument("--private", action="store_true", help="create the repo private")
    return parser


def run_config_from_args(args: argparse.Namespace):
    from .config import RunConfig, preset

    cfg = RunConfig.from_file(args.config) if args.config else preset(args.preset or "mnist")
    apply_flags(args, cfg.model, MODEL_FLAGS)
    apply_flags(args, cfg.train, TRAIN_FLAGS)
    return cfg


def apply_flags(args: argparse.Namespace, section, flags: dict[str, str]) -> None:
    """Set the config fields whose flags were given on the command line."""
    for flag, name in flags.items():
        if getattr(args, flag) is not None:
            setattr(section, name, getattr(args, flag))


def refuse_changes_on_resume(args: argparse.Namespace, flags, extra: tuple[str, ...]) -> None:
    changed = [f"--{flag.replace('_', '-')}" for flag in flags if flag != "epochs" and getattr(args, flag) is not None]
    changed += [f"--{name}" for name in extra if getattr(args, name, None)]
    if changed:
        raise VQVAEError(f"a resumed run keeps its saved settings: drop {', '.join(changed)} "
                         f"(only --epochs may extend it), or start a new run")


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    if args.resume:
        refuse_changes_on_resume(args, (*MODEL_FLAGS, *TRAIN_FLAGS), ("config", "preset"))
        status = train(None, args.out, resume=True, progress=not args.no_progress, epochs=args.epochs)
    else:
        status = train(run_config_from_args(args), args.out, progress=not args.no_progress)
    psnr = status.get("best_val_psnr")
    print(f"{status['state']}: {args.out} (step {status.get('step')}"
          + (f", best held-out PSNR {psnr:.2f} dB)" if psnr is not None else ")"))
    return 0 if status["state"] == "done" else 1


def located(ref, kind: str) -> Path:
    """The folder of a model reference (path, bundled name or Hub id); a Hub model that
    cannot be had falls back to the bundled one, with a notice on stderr."""
    from .hub import locate

    found = locate(ref, kind)
    if found.notice:
        print(f"notice: {found.notice}", file=sys.stderr)
    return found.path


def cmd_eval(args: argparse.Namespace) -> int:
    from . import runs
    from .device import pick_device
    from .model import load_vqvae
    from .evaluate import evaluate
    from .train import data_of_vqvae

    device = pick_device(args.device)
    folder = located(args.model, "vqvae")
    if runs.marker(folder) is not None:  # a run: say so when it did not finish (and settle its status)
        status = runs.read_status(folder)
        if status.get("state") != "done":
            print(f"notice: {folder} is {status.get('state', 'of unknown state')}"
                  + (f" ({status['message']})" if status.get("message") else "") + ": evaluating its checkpoint",
                  file=sys.stderr)
    model = load_vqvae(folder, device)
    data = data_of_vqvae(folder, model, args.dataset, args.data)
    metrics = evaluate(model, data.val)
    metrics.update(images=len(data.val), data=data.name, checkpoint=str(runs.resolve_checkpoint(folder)))
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{metrics['checkpoint']} on {data.name}, {len(data.val)} held-out images:")
        print(f"  PSNR {metrics['val_psnr']:.2f} dB   MSE {metrics['val_mse']:.5f}   "
              f"perplexity {metrics['perplexity']:.1f} / {model.config.codebook_size}   codes used {metrics['codes_used']}")
    return 0


def cmd_train_prior(args: argparse.Namespace) -> int:
    from .config import prior_preset
    from .prior_training import default_prior_preset, train_prior

    progress = not args.no_progress
    if args.resume:
        refuse_changes_on_resume(args, (*PRIOR_FLAGS, *PRIOR_TRAIN_FLAGS), ("preset",))
        status = train_prior(None, args.out, resume=True, progress=progress, epochs=args.epochs)
    else:
        if not args.vqvae:
            raise VQVAEError("name the VQ-VAE whose codes the prior learns: --vqvae RUN_DIR")
        cfg = prior_preset(args.preset or default_prior_preset(args.vqvae))
        apply_flags(args, cfg.prior, PRIOR_FLAGS)
        apply_flags(args, cfg.train, PRIOR_TRAIN_FLAGS)
        status = train_prior(cfg, args.out, progress=progress)
    nll = status.get("best_val_nll")
    print(f"{status['state']}: {args.out} (step {status.get('step')}"
          + (f", best held-out NLL {nll:.3f} nats per code)" if nll is not None else ")"))
    return 0 if status["state"] == "done" else 1


def cmd_sample(args: argparse.Namespace) -> int:
    import torchvision.utils as vutils
    from tqdm.auto import tqdm

    from . import runs
    from .device import pick_device
    from .model import load_vqvae
    from .prior_training import load_prior, vqvae_of_prior
    from .sampling import grid_columns, stream_samples

    if args.nrow is not None and args.nrow < 1:
        raise VQVAEError(f"--nrow must be at least 1, not {args.nrow}")
    if args.out.suffix.lower() != ".png":
        raise VQVAEError(f"the grid is written as a PNG: give --out a .png name, not {args.out.name}")
    if args.n > MAX_GRID_IMAGES:  # the whole batch is drawn at once: memory grows with n
        raise VQVAEError(f"--n draws one grid of at most {MAX_GRID_IMAGES} images, not {args.n}: "
                         f"for more, run again with another --seed")
    try:  # said now, not after the sampling
        args.out.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(args.out.parent, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise VQVAEError(f"cannot write into {args.out.parent}: choose another --out")
    device = pick_device(args.device)
    prior_folder = located(args.prior, "prior")
    prior = load_prior(prior_folder, device)
    vqvae = load_vqvae(located(args.vqvae, "vqvae") if args.vqvae else vqvae_of_prior(prior_folder), device)
    steps = stream_samples(prior, vqvae, args.n, args.temperature, args.seed, args.label)
    progress = None
    for progress in tqdm(steps, total=vqvae.config.grid_size ** 2, unit="code", disable=args.no_progress,
                         desc=f"sampling {args.n}", dynamic_ncols=True, file=sys.stderr):
        pass
    images = vqvae.decode(progress.codes)
    nrow = args.nrow or grid_columns(args.n, prior.config.n_classes, args.label)
    grid = vutils.make_grid(images.cpu(), nrow=nrow, padding=1, pad_value=1.0)
    try:
        runs.atomic_write_png(args.out, grid)
    except OSError as exc:
        raise VQVAEError(f"cannot write {args.out} ({exc.strerror}): choose another --out") from None
    print(f"wrote {args.out}: {args.n} samples, temperature {args.temperature}, seed {args.seed}"
          + (f", label {args.label}" if args.label is not None else ""))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    import tempfile

    from .hub import export_folder, push

    folder = located(args.model, "vqvae")
    with tempfile.TemporaryDirectory(prefix="vqvae-push-") as tmp:
        staged = export_folder(folder, Path(tmp) / Path(args.model).name)
        url = push(staged, args.repo_id, args.path_in_repo, args.private)
    print(f"pushed {args.model} to {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"train": cmd_train, "eval": cmd_eval, "train-prior": cmd_train_prior, "sample": cmd_sample,
                    "push": cmd_push}
        return commands[args.command](args)
    except VQVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be read or written: the user's to fix, not a bug
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where} ({exc.strerror or exc}): check the path, its permissions and free space",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
