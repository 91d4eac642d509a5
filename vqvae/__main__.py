"""The command line: `python -m vqvae train ...`, `python -m vqvae eval ...`.

Mistakes a user can make print one line and exit with status 2; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import VQVAEError

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


def build_parser() -> argparse.ArgumentParser:
    from .config import ARCHITECTURES, CODEBOOK_INITS, PRESETS, QUANTIZERS, RECON_LOSSES, STRAIGHT_THROUGH

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
    ev.add_argument("--model", required=True, type=Path, help="a run folder or a checkpoint folder")
    ev.add_argument("--dataset", help="data set to evaluate on (default: the run's, else mnist)")
    ev.add_argument("--data", help="folder for the data set")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def run_config_from_args(args: argparse.Namespace):
    from .config import RunConfig, preset

    cfg = RunConfig.from_file(args.config) if args.config else preset(args.preset or "mnist")
    for flag, name in MODEL_FLAGS.items():
        if getattr(args, flag) is not None:
            setattr(cfg.model, name, getattr(args, flag))
    for flag, name in TRAIN_FLAGS.items():
        if getattr(args, flag) is not None:
            setattr(cfg.train, name, getattr(args, flag))
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    if args.resume:
        changed = [f"--{flag.replace('_', '-')}" for flag in (*MODEL_FLAGS, *TRAIN_FLAGS)
                   if flag != "epochs" and getattr(args, flag) is not None]
        changed += [flag for flag, value in (("--config", args.config), ("--preset", args.preset)) if value]
        if changed:
            raise VQVAEError(f"a resumed run keeps its saved settings: drop {', '.join(changed)} "
                             f"(only --epochs may extend it), or start a new run")
        status = train(None, args.out, resume=True, progress=not args.no_progress, epochs=args.epochs)
    else:
        status = train(run_config_from_args(args), args.out, progress=not args.no_progress)
    psnr = status.get("best_val_psnr")
    print(f"{status['state']}: {args.out} (step {status.get('step')}"
          + (f", best held-out PSNR {psnr:.2f} dB)" if psnr is not None else ")"))
    return 0 if status["state"] == "done" else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from . import runs
    from .config import RunConfig
    from .data import load_data
    from .device import pick_device
    from .model import load_vqvae
    from .train import Trainer

    device = pick_device(args.device)
    model = load_vqvae(args.model, device)
    saved = runs.read_json(Path(args.model) / runs.CONFIG)
    run = RunConfig.from_dict(saved) if saved and "model" in saved else None
    c = model.config
    if not args.dataset and not run and c.in_channels != 1:
        raise VQVAEError(f"{args.model} is a colour model without its run folder: name the data with --dataset (and --data)")
    dataset = args.dataset or (run.train.dataset if run else "mnist")
    root = args.data or (run.train.data if run else None)
    crop = run.train.center_crop if run else None
    data = load_data(dataset, c.in_channels, c.image_size, root, crop)
    metrics = Trainer(model, 1e-3, device).evaluate(data.val)
    metrics.update(images=len(data.val), data=data.name, checkpoint=str(runs.resolve_checkpoint(args.model)))
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{metrics['checkpoint']} on {data.name}, {len(data.val)} held-out images:")
        print(f"  PSNR {metrics['val_psnr']:.2f} dB   MSE {metrics['val_mse']:.5f}   "
              f"perplexity {metrics['perplexity']:.1f} / {c.codebook_size}   codes used {metrics['codes_used']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "eval": cmd_eval}[args.command](args)
    except VQVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
