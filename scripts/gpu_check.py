"""The GPU check (bench/gpu_check.py: the CUDA tests and the GPU bench rows) from a bare
checkout, as a lent GPU machine has it (the tree copied, the project not installed):

    python scripts/gpu_check.py --out DIR [--device auto|cuda|cpu] [--quick]

It runs `python -m bench.gpu_check` with the checkout on PYTHONPATH.
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    checkout = str(Path(__file__).resolve().parents[1])
    paths = [checkout, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    os.execve(sys.executable, [sys.executable, "-m", "bench.gpu_check", *sys.argv[1:]], env)
