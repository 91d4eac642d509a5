"""The command line: `python -m vqvae train|eval|train-prior|sample|score|compress|decompress|bits|push|download`.

Mistakes a user can make print one line and exit with status 2; tracebacks are for bugs.
`main` runs one command line in-process and returns its exit status.
"""

from __future__ import annotations

import sys

from vqvae.cli import codec_commands, commands
from vqvae.cli.parser import build_parser
from vqvae.errors import VQVAEError

COMMANDS = {"train": commands.cmd_train, "eval": commands.cmd_eval, "train-prior": commands.cmd_train_prior,
            "sample": commands.cmd_sample, "score": commands.cmd_score, "push": commands.cmd_push,
            "download": commands.cmd_download, "compress": codec_commands.cmd_compress,
            "decompress": codec_commands.cmd_decompress, "bits": codec_commands.cmd_bits}


def main(argv: list[str] | None = None) -> int:
    """Run one command line (argv without the program name; None: sys.argv[1:]) -> its exit
    status: 0 done, 1 a run that did not finish, 2 a mistake (said in one `error:` line on
    stderr), 130 interrupted; argparse's own refusals (after its usage line) 2, and --help 0."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the help or the refusal: its status, for callers in-process
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
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


__all__ = ["main", "build_parser"]
