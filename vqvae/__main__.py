"""`python -m vqvae ...`: the command line (vqvae.cli)."""

import sys

from vqvae.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
