"""The bench's command line.

    python -m bench [--quick | --training | --dashboard | --reliability | --pokemon | --full-size | --interaction
                     | --quality | --levels | --codec | --variants EPOCHS | --reference EPOCHS
                     | --depths EPOCHS]
                    [--variants-data pokemon] [--only NAME ...] [--seeds N]
                    [--json PATH]

Everything runs in one process and one table, so the ratios compare like with like on a
shared, noisy machine; ratios are oriented so that bigger is better. A group of rows can
run alone (its flag); the full run has them all (smaller with --quick).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from bench.table import machine_name, print_table

ALONE = {  # flag -> the title of its table
    "training": "MNIST training", "pokemon": "Pokémon", "full_size": "full size", "interaction": "interaction",
    "quality": "sample quality", "variants": "codebook variants", "reliability": "reliability",
    "dashboard": "dashboard", "levels": "two levels", "codec": "codec", "reference": "against vector-quantize-pytorch",
    "depths": "residual VQ by depth",
}


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="python -m bench", description="The library beside the tutorials' pipelines.")
    made.add_argument("--quick", action="store_true", help="2 epochs and an 18 dB target (a few minutes)")
    made.add_argument("--json", type=Path, help="write the rows here")
    made.add_argument("--training", action="store_true", help="only the MNIST training rows: time to 22 dB, held-out "
                                                              "PSNR, perplexity and throughput against the tutorial's "
                                                              "pipeline (about 5 minutes a seed; 2 epochs with --quick)")
    made.add_argument("--dashboard", action="store_true", help="only the dashboard rows (a few minutes)")
    made.add_argument("--reliability", action="store_true", help="only the largest-codebook page row (under a minute)")
    made.add_argument("--pokemon", action="store_true", help="only the Pokémon rows (about 4 minutes)")
    made.add_argument("--full-size", action="store_true", help="only the full-size reconstruction row (seconds)")
    made.add_argument("--interaction", action="store_true", help="only the step-mode and walk rows (seconds)")
    made.add_argument("--variants", type=int, metavar="EPOCHS", help="only the codebook-variant rows, each variant "
                                                                     "trained this many epochs (10: about 15 minutes), "
                                                                     "and the reference rows when their library is here")
    made.add_argument("--reference", type=int, metavar="EPOCHS", help="only the reference rows: each quantizer shared "
                                                                      "with vector-quantize-pytorch trained with ours "
                                                                      "and with theirs, this many epochs")
    made.add_argument("--depths", type=int, metavar="EPOCHS", help="only residual VQ's dead codes at depths 2 to 6 "
                                                                   "(K 4,096), with and without restarts, this many epochs")
    made.add_argument("--variants-data", choices=("mnist", "pokemon"), default="mnist",
                      help="the data set of --variants and --reference (pokemon: about 4 minutes a variant for 10 "
                           "epochs)")
    made.add_argument("--only", nargs="+", metavar="NAME",
                      help="--variants and --reference: only these variants and reference pairs (for example: --only ema "
                           "'residual VQ, restarts')")
    made.add_argument("--seeds", type=int, default=1, metavar="N",
                      help="--training, --variants and --reference: train each side with seeds 0 to N-1 and report "
                           "each side's mean (a result that moves from seed to seed: time to 22 dB, SimVQ)")
    made.add_argument("--levels", action="store_true", help="only the two-level rows: the bundled VQ-VAE-2 models "
                                                            "against the one-level ones (a few minutes)")
    made.add_argument("--codec", action="store_true", help="only the codec rows: held-out pictures coded with each "
                                                           "bundled prior against JPEG and WebP (a few minutes)")
    made.add_argument("--quality", action="store_true", help="only the sample-quality rows (45 minutes or more on "
                                                             "2 CPU cores, 3 with --quick)")
    return made


def alone_rows(flag: str, args) -> list[dict]:
    """The rows of one group run alone (imported here: the dashboard's need Streamlit)."""
    if flag == "training":
        from bench.mnist import mnist_rows
        from vqvae.data.datasets import bundled_mnist

        return mnist_rows(bundled_mnist(), args.quick, args.seeds)[0]
    if flag == "pokemon":
        from bench.dashboard import pokemon_page_rows
        from bench.pokemon import pokemon_rows

        return pokemon_rows(args.quick) + pokemon_page_rows()
    if flag == "full_size":
        from bench.full_size import full_size_rows

        return full_size_rows()
    if flag == "interaction":
        from bench.interaction import interaction_rows

        return interaction_rows()
    if flag == "quality":
        from bench.quality import sample_quality_rows

        return sample_quality_rows(args.quick)
    if flag == "levels":
        from bench.levels import levels_rows

        return levels_rows(args.quick)
    if flag == "codec":
        from bench.codec import codec_rows

        return codec_rows(args.quick)
    if flag == "depths":
        from bench.variants import depth_rows

        return depth_rows(args.depths)
    from bench.reference import PAIRS
    from vqvae.training.variants import VARIANTS

    if flag in ("variants", "reference") and args.only:
        known = {**VARIANTS, **PAIRS} if flag == "variants" else PAIRS
        if unknown := [name for name in args.only if name not in known]:
            sys.exit(f"python -m bench: unknown --only {', '.join(map(repr, unknown))}: choose from "
                     f"{', '.join(map(repr, known))}")
    if flag == "variants":
        from bench.reference import reference_available, reference_rows
        from bench.variants import variant_rows

        only = args.only or list(VARIANTS) + list(PAIRS)
        rows = variant_rows(args.variants, [name for name in only if name in VARIANTS], dataset=args.variants_data)
        pairs = [name for name in only if name in PAIRS]
        if pairs and not reference_available():
            print("the reference rows need vector-quantize-pytorch (pip install -e '.[reference]'): left out")
        elif pairs:
            rows += reference_rows(args.variants, args.variants_data, pairs, args.seeds)
        return rows
    if flag == "reference":
        from bench.reference import reference_rows

        return reference_rows(args.reference, args.variants_data, args.only, args.seeds)
    from bench.dashboard import dashboard_rows, reliability_rows

    if flag == "reliability":
        return reliability_rows()
    from vqvae.data.datasets import bundled_mnist

    return dashboard_rows(bundled_mnist())


def full_rows(quick: bool) -> list[dict]:
    """Every row but the dashboard's (--dashboard and --reliability run alone)."""
    from bench.codec import codec_rows
    from bench.dashboard import pokemon_page_rows
    from bench.full_size import full_size_rows
    from bench.interaction import interaction_rows
    from bench.levels import levels_rows
    from bench.memory import memory_rows
    from bench.mnist import mnist_rows
    from bench.pokemon import pokemon_rows
    from bench.quality import bundled_rows, prior_nll_rows, quality_rows, train_ours
    from bench.sampling import sampling_rows
    from bench.variants import variant_rows
    from vqvae.data.datasets import bundled_mnist
    from vqvae.presets import preset
    from vqvae.training.sample_quality import DEFAULT_N

    rows, ema = mnist_rows(bundled_mnist(), quick)
    rows += memory_rows()
    prior, seconds, status = train_ours(ema, quick)
    rows += prior_nll_rows(prior, status, seconds, preset("mnist").model.codebook_size)
    n = 200 if quick else DEFAULT_N
    rows += quality_rows(ema, prior, seconds, n) + bundled_rows(n)
    rows += sampling_rows(quick)
    # The codebook variants at equal bits: three of them for one epoch in a quick run.
    rows += variant_rows(1, ["ema", "fsq", "ema, k-means init"]) if quick else variant_rows(10)
    if not quick:
        rows += variant_rows(10, dataset="pokemon")
    rows += pokemon_rows(quick) + pokemon_page_rows()
    return rows + full_size_rows() + interaction_rows() + levels_rows(quick) + codec_rows(quick)


def without_json(argv: list[str]) -> list[str]:
    """The options that chose the rows (where the JSON went is not one of them)."""
    kept, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--json"):
            skip = arg == "--json"
            continue
        kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    made = parser()
    args = made.parse_args(argv)
    if args.seeds < 1:
        made.error("--seeds must be 1 or more")
    chosen = [flag for flag in ALONE if getattr(args, flag) not in (None, False)]
    title = ALONE[chosen[0]] if chosen else ("quick" if args.quick else "full")
    started = time.perf_counter()
    from vqvae.errors import VQVAEError

    try:
        rows = alone_rows(chosen[0], args) if chosen else full_rows(args.quick)
    except VQVAEError as error:
        sys.exit(f"python -m bench: {error}")
    seconds, machine = time.perf_counter() - started, machine_name()
    print_table(rows, f"VQ-VAE Lab bench ({title}) on {machine}; {seconds:.0f} s\n")
    if args.json:
        given = argv if argv is not None else sys.argv[1:]
        command = " ".join(["python -m bench", shlex.join(without_json(given))])
        report = {"machine": machine, "title": title, "quick": args.quick, "command": command,
                  "seconds": seconds, "rows": rows}
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
