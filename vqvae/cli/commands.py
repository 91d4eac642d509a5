"""What each command of `python -m vqvae` does, given its parsed options.

Each returns the exit status; a mistake the user can fix is a VQVAEError, which the entry
point (vqvae.cli.main) prints as one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vqvae.cli.setting_flags import apply_flags, refuse_changes_on_resume, run_config_from_args
from vqvae.errors import VQVAEError
from vqvae.store.run_folder import RunFolder

MAX_GRID_IMAGES = 1024  # `sample --n`: one grid PNG, drawn as one batch


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
    from vqvae.device import pick_device
    from vqvae.store import checkpoints
    from vqvae.store.load import load_vqvae
    from vqvae.store.provenance import data_of_vqvae
    from vqvae.training.evaluate import evaluate

    device = pick_device(args.device)
    folder = located(args.model, "vqvae")
    if RunFolder(folder).marker() is not None:  # a run: say so when it did not finish (and settle its status)
        status = RunFolder(folder).status()
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
        if "top_perplexity" in metrics:
            print(f"  top level: perplexity {metrics['top_perplexity']:.1f} / {model.config.top_codes}   "
                  f"codes used {metrics['top_codes_used']}")
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
    from tqdm.auto import tqdm

    from vqvae import files
    from vqvae.device import pick_device
    from vqvae.grid import image_grid
    from vqvae.models.sampling import decode_progress, grid_columns, stream_samples
    from vqvae.models.sampling_film import SamplingFilm
    from vqvae.store.load import load_prior, load_vqvae
    from vqvae.store.provenance import vqvae_of_prior

    check_sample_options(args)
    device = pick_device(args.device)
    prior_folder = located(args.prior, "prior")
    prior = load_prior(prior_folder, device)
    vqvae = load_vqvae(located(args.vqvae, "vqvae") if args.vqvae else vqvae_of_prior(prior_folder), device)
    args.label = label_number(args.label, prior_folder)
    steps = stream_samples(prior, vqvae, args.n, args.temperature, args.seed, args.label, args.top_k, args.top_p)
    nrow = args.nrow or grid_columns(args.n, prior.config.n_classes, args.label)
    film = SamplingFilm(vqvae, nrow) if args.gif else None
    progress = None
    for progress in tqdm(steps, total=vqvae.config.codes_per_image, unit="code", disable=args.no_progress,
                         desc=f"sampling {args.n}", dynamic_ncols=True, file=sys.stderr):
        if film:
            film.add_at_row_ends(progress)
    images = decode_progress(vqvae, progress)
    grid = image_grid(images.cpu(), nrow=nrow)
    try:
        files.atomic_write_png(args.out, grid)
        if film:
            files.atomic_write_bytes(args.gif, film.gif())
    except OSError as exc:
        raise VQVAEError(f"cannot write {exc.filename or args.out} ({exc.strerror}): choose another path") from None
    filters = "".join(f", {name} {value:g}" for name, value in (("top-k", args.top_k), ("top-p", args.top_p))
                      if value is not None)
    print(f"wrote {args.out}: {args.n} samples, temperature {args.temperature}{filters}, seed {args.seed}"
          + (f", label {args.label}" if args.label is not None else "")
          + (f"; and {args.gif}: the grid filling in, {len(film.frames)} frames" if film else ""))
    return 0


def check_sample_options(args: argparse.Namespace) -> None:
    """`sample`'s options that would fail only after the sampling, refused before it."""
    if args.nrow is not None and args.nrow < 1:
        raise VQVAEError(f"--nrow must be at least 1, not {args.nrow}")
    if args.out.suffix.lower() != ".png":
        raise VQVAEError(f"the grid is written as a PNG: give --out a .png name, not {args.out.name}")
    if args.gif is not None and args.gif.suffix.lower() != ".gif":
        raise VQVAEError(f"the animation is written as a GIF: give --gif a .gif name, not {args.gif.name}")
    if args.n > MAX_GRID_IMAGES:  # the whole batch is drawn at once: memory grows with n
        raise VQVAEError(f"--n draws one grid of at most {MAX_GRID_IMAGES} images, not {args.n}: "
                         f"for more, run again with another --seed")
    for flag, path in (("--out", args.out), ("--gif", args.gif)):
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            writable = path is None or os.access(path.parent, os.W_OK)
        except OSError:
            writable = False
        if not writable:
            raise VQVAEError(f"cannot write into {path.parent}: choose another {flag}")


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
