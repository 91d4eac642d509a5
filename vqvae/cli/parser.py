"""The command line's options: `python -m vqvae train|eval|train-prior|sample|score|compress|
decompress|bits|push|download`.

The training commands take one flag per setting, made from the config dataclasses
(vqvae.cli.setting_flags); the others have their own options, declared here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vqvae.cli.setting_flags import add_setting_flags


def build_parser() -> argparse.ArgumentParser:
    from vqvae.config import ModelConfig, PriorConfig, PriorTrainConfig, TrainConfig
    from vqvae.presets import PRESETS, PRIOR_PRESETS

    parser = argparse.ArgumentParser(prog="python -m vqvae", description="VQ-VAE Lab: train and evaluate VQ-VAEs.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_training_command(sub, "train", "train a VQ-VAE into a run folder", "run",
                         f"starting settings: {', '.join(PRESETS)} (default mnist)",
                         (("model", ModelConfig), ("training", TrainConfig)))
    add_eval_command(sub)
    add_training_command(sub, "train-prior", "train a PixelCNN prior on the codes of a trained VQ-VAE", "prior run",
                         f"prior size: {', '.join(PRIOR_PRESETS)} (default: the VQ-VAE run's preset, else mnist)",
                         (("prior", PriorConfig), ("training", PriorTrainConfig)))
    add_sample_command(sub)
    add_score_command(sub)
    add_codec_commands(sub)
    add_push_command(sub)
    add_download_command(sub)
    return parser


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


def add_eval_command(sub) -> None:
    ev = sub.add_parser("eval", help="held-out metrics of a checkpoint")
    ev.add_argument("--model", required=True, help="a run or checkpoint folder, a bundled name or a Hub repo id")
    ev.add_argument("--dataset", help="data set to evaluate on (default: the run's, else mnist)")
    ev.add_argument("--data", help="folder for the data set")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--json", action="store_true", help="print one JSON object")


def add_sample_command(sub) -> None:
    sa = sub.add_parser("sample", help="draw images from a prior and save them as a grid PNG")
    sa.add_argument("--prior", required=True, help="a prior run or checkpoint folder, a bundled name or a Hub repo id")
    sa.add_argument("--vqvae", help="the VQ-VAE that decodes the codes (default: the one the prior was trained on)")
    sa.add_argument("--n", type=int, default=64, help="how many images (default 64)")
    sa.add_argument("--out", required=True, type=Path, help="the grid PNG to write")
    sa.add_argument("--gif", type=Path, help="also write the grid filling in, a row of codes a frame, as an animated GIF")
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


def add_score_command(sub) -> None:
    sc = sub.add_parser("score", help="how good a class-conditional prior's samples are, judged by the bundled "
                                      "classifier (label accuracy, Fréchet distance)")
    sc.add_argument("--prior", required=True, help="a prior run or checkpoint folder, or a bundled name (mnist-ema-prior)")
    sc.add_argument("--n", type=int, default=1000, help="samples to draw, the classes in turn (default 1000)")
    sc.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    sc.add_argument("--device", default="auto")


def add_codec_commands(sub) -> None:
    co = sub.add_parser("compress", help="code a picture's codes into a small file, entropy-coded with a prior")
    co.add_argument("image", type=Path, help="the picture (PNG, JPEG, WebP, ...), read at its own shape")
    co.add_argument("--prior", required=True, help="a prior (its VQ-VAE makes the codes): a run, a bundled name or a Hub id")
    co.add_argument("--out", required=True, type=Path, help="the file to write (.vqz)")
    de = sub.add_parser("decompress", help="decode a file `compress` wrote back into a picture")
    de.add_argument("file", type=Path, help="the .vqz file")
    de.add_argument("--out", required=True, type=Path, help="the PNG to write")
    de.add_argument("--prior", help="the prior it was coded with (default: the bundled prior its fingerprint names)")
    bi = sub.add_parser("bits", help="a picture's bits under a prior, its coded file, and PNG, JPEG and WebP at the same PSNR")
    bi.add_argument("--prior", required=True, help="a prior: a run, a bundled name or a Hub id")
    bi.add_argument("--image", required=True, type=Path, help="the picture")
    bi.add_argument("--json", type=Path, help="also write the numbers to this .json file")


def add_push_command(sub) -> None:
    pu = sub.add_parser("push", help="upload a run's best checkpoint, model card and pictures to a Hugging Face Hub repo")
    pu.add_argument("model", help="a run folder, a checkpoint folder or a bundled name")
    pu.add_argument("repo_id", help="owner/name of a model repo (created when missing)")
    pu.add_argument("--path-in-repo", help="a folder inside the repo (a repo laid out like pretrained/ holds several models)")
    pu.add_argument("--private", action="store_true", help="create the repo private")


def add_download_command(sub) -> None:
    from vqvae.data.download import TIMEOUT_S
    from vqvae.data.local_sets import TORCHVISION_SETS

    dl = sub.add_parser("download", help=f"download a torchvision data set ({', '.join(TORCHVISION_SETS)}) "
                                         "into the data folder")
    dl.add_argument("dataset", choices=list(TORCHVISION_SETS), help="mnist means the full 70,000 images")
    dl.add_argument("--root", type=Path, help="the data folder (default: $VQVAE_DATA, else data/)")
    dl.add_argument("--timeout", type=float, default=TIMEOUT_S,
                    help=f"seconds to wait for a server (default {TIMEOUT_S:g})")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
