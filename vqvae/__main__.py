"""The command line: `python -m vqvae train|eval|train-prior|sample|score|push|download ...`.

Mistakes a user can make print one line and exit with status 2; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from vqvae.errors import VQVAEError

MAX_GRID_IMAGES = 1024  # `sample --n`: one grid PNG, drawn as one batch

def add_setting_flags(parser: argparse.ArgumentParser, title: str, section: type) -> None:
    """One flag per setting of a config section that has one (config.setting), with its help,
    type and choices; every default is None, meaning "keep the preset's or the file's value"."""
    from vqvae.config import flag_name, value_type

    group = parser.add_argument_group(title)
    for f in fields(section):
        flag = flag_name(f)
        if flag is None:
            continue
        meta, kind = f.metadata, value_type(f)
        names = [f"--{flag}", *([meta["short"]] if meta.get("short") else [])]
        options = dict(dest=flag.replace("-", "_"), default=None, help=meta.get("help") or None)
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options.update(type=kind, choices=meta.get("choices"))
        group.add_argument(*names, **options)


def add_training_command(sub, command: str, help: str, what: str, preset_help: str, sections) -> None:
    """A command that trains into a run folder: its run options, then one flag per setting."""
    parser = sub.add_parser(command, help=help)
    parser.add_argument("--out", required=True, type=Path, help=f"{what} folder to create (or to continue with --resume)")
    parser.add_argument("--preset", help=preset_help)
    parser.add_argument("--config", type=Path, help=f"a {what} config JSON file (as written to RUN/config.json); "
                                                    "flags override it")
    parser.add_argument("--resume", action="store_true", help=f"continue the {what} in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for title, section in sections:
        add_setting_flags(parser, title, section)


def build_parser() -> argparse.ArgumentParser:
    from vqvae.config import ModelConfig, PriorConfig, PriorTrainConfig, TrainConfig
    from vqvae.data.datasets import TORCHVISION_SETS
    from vqvae.data.download import TIMEOUT_S
    from vqvae.presets import PRESETS, PRIOR_PRESETS

    parser = argparse.ArgumentParser(prog="python -m vqvae", description="VQ-VAE Lab: train and evaluate VQ-VAEs.")
    sub = parser.add_subparsers(dest="command", required=True)

    add_training_command(sub, "train", "train a VQ-VAE into a run folder", "run",
                         f"starting settings: {', '.join(PRESETS)} (default mnist)",
                         (("model", ModelConfig), ("training", TrainConfig)))

    ev = sub.add_parser("eval", help="held-out metrics of a checkpoint")
    ev.add_argument("--model", required=True, help="a run or checkpoint folder, a bundled name or a Hub repo id")
    ev.add_argument("--dataset", help="data set to evaluate on (default: the run's, else mnist)")
    ev.add_argument("--data", help="folder for the data set")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    add_training_command(sub, "train-prior", "train a PixelCNN prior on the codes of a trained VQ-VAE", "prior run",
                         f"prior size: {', '.join(PRIOR_PRESETS)} (default: the VQ-VAE run's preset, else mnist)",
                         (("prior", PriorConfig), ("training", PriorTrainConfig)))

    sa = sub.add_parser("sample", help="draw images from a prior and save them as a grid PNG")
    sa.add_argument("--prior", required=True, help="a prior run or checkpoint folder, a bundled name or a Hub repo id")
    sa.add_argument("--vqvae", help="the VQ-VAE that decodes the codes (default: the one the prior was trained on)")
    sa.add_argument("--n", type=int, default=64, help="how many images (default 64)")
    sa.add_argument("--out", required=True, type=Path, help="the grid PNG to write")
    sa.add_argument("--temperature", type=float, default=1.0, help="below 1: safer samples; above 1: wilder")
    sa.add_argument("--top-k", type=int, help="draw each code from the k likeliest only (1: always the likeliest)")
    sa.add_argument("--top-p", type=float, help="nucleus sampling: from the fewest likeliest codes whose "
                                                "probability reaches p, in (0, 1]")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--label", help="class to draw from a class-conditional prior, by number or by name "
                                    "(3, fire, cat; default: each in turn)")
    sa.add_argument("--nrow", type=int, help="images per row of the grid")
    sa.add_argument("--device", default="auto")
    sa.add_argument("--no-progress", action="store_true", help="no progress bar")

    sc = sub.add_parser("score", help="how good a class-conditional prior's samples are, judged by the bundled "
                                      "classifier (label accuracy, Fréchet distance)")
    sc.add_argument("--prior", required=True, help="a prior run or checkpoint folder, or a bundled name (mnist-ema-prior)")
    sc.add_argument("--n", type=int, default=1000, help="samples to draw, the classes in turn (default 1000)")
    sc.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    sc.add_argument("--device", default="auto")

    pu = sub.add_parser("push", help="upload a run's best checkpoint, model card and pictures to a Hugging Face Hub repo")
    pu.add_argument("model", help="a run folder, a checkpoint folder or a bundled name")
    pu.add_argument("repo_id", help="owner/name of a model repo (created when missing)")
    pu.add_argument("--path-in-repo", help="a folder inside the repo (a repo laid out like pretrained/ holds several models)")
    pu.add_argument("--private", action="store_true", help="create the repo private")

    dl = sub.add_parser("download", help=f"download a torchvision data set ({', '.join(TORCHVISION_SETS)}) "
                                         "into the data folder")
    dl.add_argument("dataset", choices=list(TORCHVISION_SETS), help="mnist means the full 70,000 images")
    dl.add_argument("--root", type=Path, help="the data folder (default: $VQVAE_DATA, else data/)")
    dl.add_argument("--timeout", type=float, default=TIMEOUT_S,
                    help=f"seconds to wait for a server (default {TIMEOUT_S:g})")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run_config_from_args(args: argparse.Namespace):
    from vqvae.config import RunConfig
    from vqvae.presets import preset

    cfg = RunConfig.from_file(args.config) if args.config else preset(args.preset or "mnist")
    apply_flags(args, cfg.model)
    apply_flags(args, cfg.train)
    return cfg


def given_flags(args: argparse.Namespace, section) -> dict:
    """{field name: value} of the section's settings whose flags were given."""
    from vqvae.config import flag_name

    found = {}
    for f in fields(section):
        flag = flag_name(f)
        if flag is not None and getattr(args, flag.replace("-", "_"), None) is not None:
            found[f.name] = getattr(args, flag.replace("-", "_"))
    return found


def apply_flags(args: argparse.Namespace, section) -> None:
    """Set the config fields whose flags were given on the command line."""
    for name, value in given_flags(args, section).items():
        setattr(section, name, value)


def refuse_changes_on_resume(args: argparse.Namespace, sections, extra: tuple[str, ...]) -> None:
    from vqvae.config import flag_name

    changed = [f"--{flag_name(f)}" for section in sections for f in fields(section)
               if f.name != "epochs" and f.name in given_flags(args, section)]
    changed += [f"--{name}" for name in extra if getattr(args, name, None)]
    if changed:
        raise VQVAEError(f"a resumed run keeps its saved settings: drop {', '.join(changed)} "
                         f"(only --epochs may extend it), or start a new run")


def cmd_train(args: argparse.Namespace) -> int:
    from vqvae.config import ModelConfig, TrainConfig
    from vqvae.training.vqvae_trainer import train

    if args.resume:
        refuse_changes_on_resume(args, (ModelConfig, TrainConfig), ("config", "preset"))
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
    from vqvae.store.hub import locate

    found = locate(ref, kind)
    if found.notice:
        print(f"notice: {found.notice}", file=sys.stderr)
    return found.path


def cmd_eval(args: argparse.Namespace) -> int:
    from vqvae.store import checkpoints
    from vqvae.store.load import load_vqvae
    from vqvae.device import pick_device
    from vqvae.store import run_folder
    from vqvae.training.evaluate import evaluate
    from vqvae.store.provenance import data_of_vqvae

    device = pick_device(args.device)
    folder = located(args.model, "vqvae")
    if run_folder.marker(folder) is not None:  # a run: say so when it did not finish (and settle its status)
        status = run_folder.read_status(folder)
        if status.get("state") != "done":
            print(f"notice: {folder} is {status.get('state', 'of unknown state')}"
                  + (f" ({status['message']})" if status.get("message") else "") + ": evaluating its checkpoint",
                  file=sys.stderr)
    model = load_vqvae(folder, device)
    data = data_of_vqvae(folder, model, args.dataset, args.data)
    metrics = evaluate(model, data.val)
    metrics.update(images=len(data.val), data=data.name, checkpoint=str(checkpoints.resolve_checkpoint(folder)))
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{metrics['checkpoint']} on {data.name}, {len(data.val)} held-out images:")
        print(f"  PSNR {metrics['val_psnr']:.2f} dB   MSE {metrics['val_mse']:.5f}   "
              f"perplexity {metrics['perplexity']:.1f} / {model.config.codebook_size}   codes used {metrics['codes_used']}")
    return 0


def cmd_train_prior(args: argparse.Namespace) -> int:
    from vqvae.config import PriorConfig, PriorRunConfig, PriorTrainConfig
    from vqvae.training.prior_trainer import new_prior_config, train_prior

    progress = not args.no_progress
    if args.resume:
        refuse_changes_on_resume(args, (PriorConfig, PriorTrainConfig), ("config", "preset"))
        status = train_prior(None, args.out, resume=True, progress=progress, epochs=args.epochs)
    else:
        if args.config:
            cfg = PriorRunConfig.from_file(args.config)
        elif args.vqvae:
            cfg = new_prior_config(args.vqvae, args.preset)
        else:
            raise VQVAEError("name the VQ-VAE whose codes the prior learns: --vqvae RUN_DIR")
        apply_flags(args, cfg.prior)
        apply_flags(args, cfg.train)
        status = train_prior(cfg, args.out, progress=progress)
    nll = status.get("best_val_nll")
    print(f"{status['state']}: {args.out} (step {status.get('step')}"
          + (f", best held-out NLL {nll:.3f} nats per code)" if nll is not None else ")"))
    return 0 if status["state"] == "done" else 1


def cmd_sample(args: argparse.Namespace) -> int:
    import torchvision.utils as vutils
    from tqdm.auto import tqdm

    from vqvae import files
    from vqvae.store.load import load_prior, load_vqvae
    from vqvae.device import pick_device
    from vqvae.models.sampling import grid_columns, stream_samples
    from vqvae.store.provenance import vqvae_of_prior

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
    args.label = label_number(args.label, prior_folder)
    steps = stream_samples(prior, vqvae, args.n, args.temperature, args.seed, args.label, args.top_k, args.top_p)
    progress = None
    for progress in tqdm(steps, total=vqvae.config.grid_size ** 2, unit="code", disable=args.no_progress,
                         desc=f"sampling {args.n}", dynamic_ncols=True, file=sys.stderr):
        pass
    images = vqvae.decode(progress.codes)
    nrow = args.nrow or grid_columns(args.n, prior.config.n_classes, args.label)
    grid = vutils.make_grid(images.cpu(), nrow=nrow, padding=1, pad_value=1.0)
    try:
        files.atomic_write_png(args.out, grid)
    except OSError as exc:
        raise VQVAEError(f"cannot write {args.out} ({exc.strerror}): choose another --out") from None
    filters = "".join(f", {name} {value:g}" for name, value in (("top-k", args.top_k), ("top-p", args.top_p))
                      if value is not None)
    print(f"wrote {args.out}: {args.n} samples, temperature {args.temperature}{filters}, seed {args.seed}"
          + (f", label {args.label}" if args.label is not None else ""))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from vqvae import files
    from vqvae.training.sample_quality import score

    if args.json is not None and args.json.suffix.lower() != ".json":
        raise VQVAEError(f"--json names the JSON file to write: give it a .json name, not {args.json.name}")
    result = score(args.prior, args.n, args.temperature, args.seed, args.device)
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            files.atomic_write_json(args.json, result)
        except OSError as exc:
            raise VQVAEError(f"cannot write {args.json} ({exc.strerror}): choose another --json") from None
    print(f"{args.prior}: {result['n']} samples at temperature {result['temperature']:g}, judged by "
          f"{result['classifier']} ({100 * result['classifier_accuracy']:.1f} % on {result['held_out_images']} "
          f"held-out images)")
    print(f"  {'':<24}{'label accuracy':>16}{'Fréchet distance':>18}")
    print(f"  {'samples':<24}{result['label_accuracy']:>16.3f}{result['frechet_distance']:>18.2f}")
    print(f"  {'reconstructions (ceiling)':<24}{result['reconstruction_label_accuracy']:>16.3f}"
          f"{result['reconstruction_frechet_distance']:>18.2f}")
    if args.json is not None:
        print(f"wrote {args.json}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    import tempfile

    from vqvae.store.export import export_folder
    from vqvae.store.hub import push

    folder = located(args.model, "vqvae")
    with tempfile.TemporaryDirectory(prefix="vqvae-push-") as tmp:
        staged = export_folder(folder, Path(tmp) / Path(args.model).name)
        url = push(staged, args.repo_id, args.path_in_repo, args.private)
    print(f"pushed {args.model} to {url}")
    return 0


def label_number(label: str | None, prior_folder: Path) -> int | None:
    """--label as the class number: given as a number, or as a name of the prior's data set's
    classes ("fire" for the Pokémon prior, "cat" for CIFAR-10), in any case."""
    from vqvae.data.datasets import class_names
    from vqvae.store.provenance import dataset_of_prior

    if label is None or label.lstrip("-").isdigit():
        return None if label is None else int(label)
    names = [name.lower() for name in class_names(dataset_of_prior(prior_folder)) or []]
    if label.lower() not in names:
        known = f"one of {', '.join(names)}" if names else "a class number"
        raise VQVAEError(f"this prior has no class {label!r}: give --label {known}")
    return names.index(label.lower())


def cmd_download(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from vqvae.data.download import download_dataset, present

    already, bar = present(args.dataset, args.root), None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:  # made once a server answered: an offline failure prints its line alone
            bar = tqdm(total=total, unit="B", unit_scale=True, disable=args.no_progress,
                       desc=f"downloading {args.dataset}", dynamic_ncols=True, file=sys.stderr)
        bar.update(done - bar.n)

    try:
        folder = download_dataset(args.dataset, args.root, progress, args.timeout)
    finally:
        if bar is not None:
            bar.close()
    print(f"{'already there' if already else 'downloaded'}: {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"train": cmd_train, "eval": cmd_eval, "train-prior": cmd_train_prior, "sample": cmd_sample,
                    "score": cmd_score, "push": cmd_push, "download": cmd_download}
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
