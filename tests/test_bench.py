"""scripts/bench.py --quick: the table a user reads, and the memory target it checks.

No timing is asserted (the machine is shared); the memory of the nearest-code search is
a property of the algorithm, not of the machine's load.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_bench_writes_every_row(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "scripts/bench.py", "--quick", "--json", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "| time to 18 dB |" in result.stdout
    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    for name in ("time to 18 dB", "nearest-code memory", "training throughput, EMA"):
        assert set(rows[name]) >= {"name", "ours", "baseline", "ratio", "unit"}
    memory = rows["nearest-code memory"]
    assert memory["ratio"] >= 10, memory  # the broadcast form needs about 4 GiB, ours tens of MiB
    assert "disagree" not in memory["note"]
    assert rows["held-out PSNR after 2 epochs, EMA"]["ours"] > 15
    pokemon = rows["pokemon held-out PSNR"]  # against the second tutorial's patch MLP, bits printed
    assert pokemon["ours"] > 10 and pokemon["baseline"] > 5 and "code bits per image: ours 2560, baseline 7168" in pokemon["note"]
    step, walk = rows["sampling step in step mode, models cached"], rows["10-step walk, models cached"]
    assert step["unit"] == walk["unit"] == "ms" and step["ours"] > 0 and walk["ours"] > 0 and walk["baseline"] > 0
    assert "pokemon-ema" in step["note"] and "pokemon-ema" in walk["note"]
    for side in (7, 16):
        sampling = rows[f"sampling {side}x{side}"]
        assert sampling["unit"] == "s" and sampling["ours"] > 0 and sampling["baseline"] > 0
        assert "identical codes" in sampling["note"], sampling  # the fast sampler is exact
    quality = rows["sample quality: label accuracy, same CPU time"]  # against the tutorial's prior recipe
    assert 0 < quality["ours"] <= 1 and 0 < quality["baseline"] <= 1 and "15 blocks x 128 channels" in quality["note"]
    assert rows["sample quality: Fréchet distance, same CPU time"]["unit"] == "FD"
    bundled = rows["sample quality: bundled mnist-ema-prior label accuracy"]
    assert bundled["ours"] > 0.5 and bundled["baseline"] >= 0.95 and bundled["target"] == ">= 0.95"
    variant = rows["variant fsq: held-out PSNR after 1 epoch"]  # the codebook variants at equal bits
    assert variant["unit"] == "dB" and variant["ours"] > 10 and "codes in use" in variant["note"]
    assert rows["FSQ codes in use after 1 epoch"]["target"] == ">= 0.95"
    assert rows["steps to 22 dB, k-means EMA against data-initialised EMA"]["unit"] == "steps"
