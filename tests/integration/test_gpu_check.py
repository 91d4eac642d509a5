"""scripts/gpu_check.py as CI runs it: on the CPU, small. It must never rot
between the rare visits of a GPU."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_the_gpu_check_runs_on_the_cpu_and_writes_its_table(tmp_path):
    command = [sys.executable, "scripts/gpu_check.py", "--device", "cpu", "--quick", "--out", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["versions"]["device"].startswith("CPU") and report["versions"]["torch"]
    assert "skipped" in report["cuda_tests"]["summary"]  # no GPU here: the CUDA tests skip, and say so
    names = [r["name"] for r in report["rows"]]
    assert not [n for n in names if "FAILED" in n], [r["note"] for r in report["rows"] if "FAILED" in r["name"]]
    for part in ("training throughput", "sampling 16x16", "sampling 7x7", "time to 12 dB", "pokemon preset",
                 "Train-page retrain"):
        assert any(n.startswith(part) for n in names), (part, names)
    rows = {r["name"]: r for r in report["rows"]}
    assert all(r["ours"] > 0 for name, r in rows.items() if name.startswith(("training", "sampling", "Train-page")))
    assert all("identical codes" in r["note"] for name, r in rows.items() if name.startswith("sampling"))
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| row | ours | baseline | ratio | unit | target | met |" in table and "Device: **CPU" in table


def test_a_device_that_is_not_there_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "scripts/gpu_check.py", "--device", "tpu", "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "unknown device" in result.stderr
