"""A generated matrix of damaged run folders: every file of a finished VQ-VAE run and of a
finished prior run, each damaged in every way a user's editor, a full disk or a stray copy
can damage it, must leave the dashboard and the CLI answering in one line, never a
traceback, and must not touch a healthy run beside it.

The two finished runs are trained once per session, when this module is collected (the
cases are their files, found by rglob, so a file a later version adds to a run folder is
damaged too without editing this file). Each case copies the healthy run into its own runs
folder, damages one file and puts an untouched copy beside it. Two tiers:

- every file, every damage, against the readers the pages and the CLI are built on (the
  run listing and its descriptions, status, metrics, marker, provenance, checkpoints,
  loading): each answers or raises a VQVAEError, never anything else, and returns what its
  callers rely on (milliseconds a case);
- one case per kind of file (its name, in either run), with one of the damages in turn,
  end to end: every dashboard page rendered in one AppTest session with the damaged run as
  the newest (watched by Train), the sidebar's active model, Compare's first model and the
  Sample page's prior, then the CLI in-process (eval, train / train-prior --resume, sample):
  no uncaught exception on a page, exit 0 or 2, no "Traceback" on stderr.

Both check the healthy run: its files byte-identical (status.json may be settled by a
reader, but must still say done), still listed as done, still loads. A case collects every
problem it finds and fails once, listing them all.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import traceback
import zlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, folder_snapshot, tiny_model_config
from pages.catalog import PAGES as CATALOG
from vqvae import RunConfig, TrainConfig, files
from vqvae.__main__ import main as cli_main
from vqvae.dashboard.run_manager import RunManager
from vqvae.dashboard.runs import describe, has_checkpoint, last_error, planned_epochs, requested_config, resumable
from vqvae.errors import VQVAEError
from vqvae.store import layout, provenance, run_folder
from vqvae.store.load import load_prior, load_vqvae
from vqvae.store.run_folder import RunFolder

KINDS = ("vqvae", "prior")
DAMAGES = ("delete", "truncate", "random", "wrong_type", "extra_line")
# Only for a file holding JSON objects (a .json object, or .jsonl lines): the same keys, every
# value of the wrong type (a string for a number, a number for a string...), nested ones too.
FIELD_DAMAGE = "wrong_fields"
PAGES = tuple(entry.name for entry in CATALOG)
BAD_LINE = b"\xff\xfe\x00\x01binary\x80junk\n42\n"
WRONG_TYPES = (b'"done"\n', b"42\n", b"[1, 2]\n")  # valid JSON, never the object a reader wants
WRONG_TYPE_LINES = b'"done"\n42\n[1, 2]\nnull\n{"kind": 42, "step": "x"}\n'  # for a .jsonl file
SKIPPED = {layout.LOCK}  # the lock is the kernel's business, not data
# What a reader may rewrite in a run it does not write: RunFolder.status settles a status.
READER_MAY_UPDATE = {layout.STATUS}


# --- the two finished runs, made once per session (at collection: the cases are their files) ---

_BUILT: dict | None = None


def _build_runs() -> dict:
    """{"vqvae": path, "prior": path} or {"error": why}; built once per process."""
    global _BUILT
    if _BUILT is not None:
        return _BUILT
    root = Path(tempfile.mkdtemp(prefix="vqvae-damage-runs-"))
    atexit.register(shutil.rmtree, root, True)
    try:
        from vqvae.training.vqvae_trainer import train

        vqvae = root / "vqvae"
        cfg = RunConfig(tiny_model_config(), TrainConfig(dataset="mnist", epochs=1, batch_size=256, device="cpu",
                                                         log_every=10, seed=0))
        status = train(cfg, vqvae, progress=False)
        assert status["state"] == "done", status
        prior = root / "prior"
        code = cli_main(["train-prior", "--vqvae", str(vqvae), "--out", str(prior), "--epochs", "1",
                         "--prior-channels", "8", "--head", "8", "--blocks", "2", "--shift", "0",
                         "--device", "cpu", "--no-progress"])
        assert code == 0, f"train-prior exited {code}"
        for kind, run in (("vqvae", vqvae), ("prior", prior)):  # what the dashboard's run manager adds
            ended = subprocess.Popen(["true"])  # a process that has ended, as a finished run's has
            ended.wait()
            files.atomic_write_json(run / layout.JOB, {"command": ["python", "-m", "vqvae"], "args": [], "kind": kind,
                                                    "pid": ended.pid, "started": time.time(), "name": f"{kind}-run"})
            (run / layout.LOG).write_text("done\n")
        _BUILT = {"vqvae": vqvae, "prior": prior}
    except Exception as exc:  # reported by the one case generated then, not as a collection error
        _BUILT = {"error": f"{type(exc).__name__}: {exc}"}
    return _BUILT


def run_files(run: Path) -> list[str]:
    """Every file of a run folder, relative, sorted (rglob: new files join the matrix)."""
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and p.name not in SKIPPED)


def json_objects(path: Path) -> list[dict] | None:
    """The JSON objects a file holds (one for .json, one a line for .jsonl), or None if it holds anything else."""
    try:
        text = path.read_text()
        found = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else [json.loads(text)]
    except (OSError, ValueError):
        return None
    return found if found and all(isinstance(o, dict) for o in found) else None


def damages_of(path: Path) -> tuple[str, ...]:
    return DAMAGES + ((FIELD_DAMAGE,) if json_objects(path) is not None else ())


def file_kind(kind: str, rel: str) -> str:
    """What a file is, whichever copy: "vqvae:metrics.json" for checkpoints/best/metrics.json and
    checkpoints/last/metrics.json alike, "prior:epoch_N.png" for any epoch's picture."""
    return f"{kind}:{re.sub(r'[0-9]+', 'N', Path(rel).name)}"


def all_cases(built: dict) -> list[tuple[str, str, str]]:
    return [(kind, rel, how) for kind in KINDS for rel in run_files(built[kind]) for how in damages_of(built[kind] / rel)]


def one_case_per_kind_of_file(cases: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The first file of each kind, with the damages taken in turn across kinds (so every
    damage reaches the pages), the field damage wherever a file holds JSON objects."""
    chosen, seen = [], set()
    for kind, rel, _ in cases:
        key = file_kind(kind, rel)
        if key in seen:
            continue
        seen.add(key)
        options = [how for k, r, how in cases if (k, r) == (kind, rel)]
        how = FIELD_DAMAGE if FIELD_DAMAGE in options else options[len(chosen) % len(options)]
        chosen.append((kind, rel, how))
    return chosen


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    built = _build_runs()
    if "error" in built:
        metafunc.parametrize("case", [("build", "", "")], ids=["building-the-runs"])
        return
    cases = all_cases(built)
    if metafunc.function.__name__ == "test_a_damaged_file_of_each_kind_leaves_pages_and_cli_answering":
        cases = one_case_per_kind_of_file(cases)
    metafunc.parametrize("case", cases, ids=[f"{kind}:{rel}-{how}" for kind, rel, how in cases])


@pytest.fixture(scope="session")
def finished_runs() -> dict:
    built = _build_runs()
    if "error" in built:
        pytest.fail(f"the finished runs could not be made: {built['error']}")
    return built


# --- damage ---

def wrong_typed(value):
    """The same shape with every leaf of another type."""
    if isinstance(value, dict):
        return {k: wrong_typed(v) for k, v in value.items()}
    if isinstance(value, bool):
        return "true"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return 42
    if isinstance(value, list):
        return {"0": value[0] if value else None}
    return [1, 2]  # None


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    seed = zlib.crc32(f"{path.name}-{how}".encode())
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "random":
        path.write_bytes(random.Random(seed).randbytes(max(len(data), 64)))
    elif how == "wrong_type":
        path.write_bytes(WRONG_TYPE_LINES if path.suffix == ".jsonl" else WRONG_TYPES[seed % len(WRONG_TYPES)])
    elif how == FIELD_DAMAGE:
        path.write_text("".join(json.dumps(wrong_typed(o)) + "\n" for o in json_objects(path)))
    elif how == "extra_line":
        path.write_bytes(data + (b"" if not data or data.endswith(b"\n") else b"\n") + BAD_LINE)
    else:
        raise ValueError(how)


def place_runs(source: Path, runs_dir: Path, kind: str) -> tuple[Path, Path]:
    """A healthy copy and a to-be-damaged copy of `source` in runs_dir, the damaged one newest."""
    healthy, damaged = runs_dir / f"healthy-{kind}", runs_dir / f"damaged-{kind}"
    shutil.copytree(source, healthy)
    shutil.copytree(source, damaged)
    return healthy, damaged


def make_newest(damaged: Path, healthy: Path) -> None:
    now = time.time()
    os.utime(healthy, (now - 600, now - 600))
    os.utime(damaged, (now, now))


# --- the checks ---

FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def raised_where(stack_trace: list[str]) -> str:
    """The innermost frame in this repository (else the innermost): "vqvae/store/run_folder.py:179 in f"."""
    frames = FRAME.findall("\n".join(stack_trace))
    ours = [f for f in frames if f[0].startswith(str(REPO)) and "/.venv/" not in f[0]]
    if not (ours or frames):
        return ""
    file, line, func = (ours or frames)[-1]
    file = file[len(str(REPO)) + 1:] if file.startswith(str(REPO)) else file
    return f"{file}:{line} in {func}"


def exception_lines(at: AppTest) -> list[str]:
    lines = []
    for exc in at.exception:
        where = raised_where(exc.stack_trace)
        lines.append(f"{exc.proto.type or 'Exception'}: {exc.message.splitlines()[0] if exc.message else ''}"
                     + (f" [{where}]" if where else ""))
    return lines


def by_label(elements, label):
    return next((e for e in elements if e.label == label), None)


def render_pages(kind: str, damaged: Path, healthy: Path) -> list[str]:
    """Every page in one AppTest session; problems as lines."""
    problems = []
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    if kind == "vqvae":
        at.session_state["active_vqvae"] = str(damaged)  # kept only while it is listed as finished
        at.session_state["compare-models"] = [str(damaged), "mnist-ema"]

    def visit(page: str, action=None) -> bool:
        try:
            if action is not None:
                action()
            elif page == "overview":
                at.run()
            else:
                at.switch_page(f"pages/{page}.py").run()
        except Exception as exc:  # AppTest itself failed (a timeout, say)
            problems.append(f"{page} page: AppTest raised {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            return False
        problems.extend(f"{page} page: {line}" for line in exception_lines(at))
        return not at.exception

    for page in PAGES:
        if not visit(page):
            continue
        if page == "train":
            table = at.dataframe[0].value if at.dataframe else None
            rows = {} if table is None else dict(zip(table["run"], table["state"]))
            if rows.get(healthy.name) != "done":
                problems.append(f"train page: the healthy run is not listed as done beside the damaged one ({rows})")
        if page == "sample" and kind == "prior":
            prior_box = by_label(at.selectbox, "Prior")
            if prior_box is not None and damaged.name in prior_box.options:
                if not visit("sample (damaged prior chosen)", lambda: prior_box.set_value(str(damaged)).run()):
                    continue
                images, button = by_label(at.number_input, "Images"), by_label(at.button, "Sample")
                if images is not None and button is not None and not at.error:
                    images.set_value(2)
                    visit("sample (sampling from the damaged prior)", lambda: button.click().run())
    offered = at.sidebar.selectbox[0].options if at.sidebar.selectbox else None
    # a run is shown as "its job's name (its folder) (data set)"
    if kind == "vqvae" and offered is not None and not any(f"({healthy.name})" in option for option in offered):
        problems.append("sidebar: the healthy run is no longer offered as a finished model")
    return problems


def call_cli(capsys, *argv: str) -> tuple[int | None, str, str | None]:
    """(exit code, stderr, escaped exception) of the CLI's main() called in-process."""
    capsys.readouterr()
    escaped = None
    try:
        code = cli_main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    except BaseException as exc:
        code, escaped = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return code, capsys.readouterr().err, escaped


def cli_problems(capsys, *argv: str, allowed=(0, 2)) -> list[str]:
    code, err, escaped = call_cli(capsys, *argv)
    what = argv[0] + (" --resume" if "--resume" in argv else "")
    if escaped:
        return [f"cli {what}: exception out of main(): {escaped}"]
    problems = []
    if code not in allowed:
        last = err.strip().splitlines()[-1][:200] if err.strip() else ""
        problems.append(f"cli {what}: exit {code}, not one of {allowed}" + (f" ({last})" if last else ""))
    if "Traceback" in err:
        problems.append(f"cli {what}: a traceback on stderr")
    return problems


def damaged_cli_problems(capsys, kind: str, damaged: Path, tmp_path: Path) -> list[str]:
    if kind == "vqvae":
        return (cli_problems(capsys, "eval", "--model", str(damaged))
                + cli_problems(capsys, "train", "--resume", "--out", str(damaged), "--no-progress"))
    return (cli_problems(capsys, "sample", "--prior", str(damaged), "--n", "2", "--out", str(tmp_path / "damaged.png"),
                         "--device", "cpu", "--no-progress")
            + cli_problems(capsys, "eval", "--model", str(damaged))  # a prior is not a VQ-VAE: one line, exit 2
            + cli_problems(capsys, "train-prior", "--resume", "--out", str(damaged), "--no-progress"))


def healthy_files_problems(healthy: Path, before: dict[str, bytes]) -> list[str]:
    problems = []
    after = folder_snapshot(healthy)
    changed = sorted(name for name in before.keys() | after.keys()
                     if Path(name).name not in SKIPPED | READER_MAY_UPDATE and before.get(name) != after.get(name))
    if changed:
        problems.append(f"healthy run: files changed, added or removed: {changed[:5]}")
    status = files.read_json(healthy / layout.STATUS) or {}
    if status.get("state") != "done":
        problems.append(f"healthy run: its status.json says {status.get('state')!r}, not done")
    return problems


def healthy_loads_problems(kind: str, healthy: Path) -> list[str]:
    try:
        (load_vqvae if kind == "vqvae" else load_prior)(healthy)
    except Exception as exc:
        return [f"healthy run: no longer loads: {type(exc).__name__}: {str(exc)[:200]}"]
    return []


def healthy_problems(capsys, kind: str, healthy: Path, before: dict[str, bytes], tmp_path: Path) -> list[str]:
    problems = healthy_files_problems(healthy, before) + healthy_loads_problems(kind, healthy)
    commands = [("eval", "--model", str(healthy))] if kind == "vqvae" else [
        ("sample", "--prior", str(healthy), "--n", "2", "--out", str(tmp_path / "healthy.png"), "--device", "cpu",
         "--no-progress"),
        ("eval", "--model", str(healthy / "vqvae")),  # the prior's own copy of its VQ-VAE
    ]
    for argv in commands:
        code, err, escaped = call_cli(capsys, *argv)
        if code != 0:
            problems.append(f"healthy run: {' '.join(argv[:2])} exits {code}, not 0"
                            + (f" ({escaped or err.strip()[-200:]})" if escaped or err.strip() else ""))
    return problems


# --- the readers, every case ---

def reader_problems(kind: str, damaged: Path, healthy: Path) -> list[str]:
    """What the pages and the CLI read from a run folder, each answering or refusing in one
    line (a VQVAEError); what they return has the types their callers rely on."""
    problems = []

    def answer(what: str, read, refusable: bool = True):
        try:
            return read()
        except VQVAEError as exc:
            if not refusable:
                problems.append(f"{what}: refused ({exc}), though it must always answer")
            elif "\n" in str(exc):
                problems.append(f"{what}: a message of several lines")
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            problems.append(f"{what}: {type(exc).__name__}: {str(exc)[:150]} [{Path(frame.filename).name}:{frame.lineno}]")
        return None

    manager = RunManager(damaged.parent)
    listed = answer("the runs list", manager.list, refusable=False) or []
    for info in listed:
        for name, read in (("describe", describe), ("resumable", resumable), ("planned_epochs", planned_epochs)):
            answer(f"{name}({info.name})", lambda read=read: read(info), refusable=False)
    states = {info.name: info.state for info in listed}
    if states.get(healthy.name) != "done":
        problems.append(f"the runs list: the healthy run is not listed as done beside the damaged one ({states})")

    folder = RunFolder(damaged)
    status = answer("status", folder.status, refusable=False)
    for key, kind_of_value in run_folder.STATUS_TYPES.items():
        value = (status or {}).get(key)
        if value is not None and not (isinstance(value, str) if kind_of_value is str else isinstance(value, (int, float))):
            problems.append(f"status: {key} is {value!r}")
    metrics = answer("metrics", folder.metrics, refusable=False) or []
    if not all(isinstance(r, dict) and isinstance(r.get("kind"), str) for r in metrics):
        problems.append("metrics: a record that is not an object with a kind")
    for what, read in (("marker", folder.marker), ("kind", folder.kind), ("training_seconds", folder.training_seconds),
                       ("checkpoint", folder.checkpoint), ("checkpoint_metrics", folder.checkpoint_metrics),
                       ("has_checkpoint", lambda: has_checkpoint(damaged)),
                       ("requested_config", lambda: requested_config(damaged)), ("last_error", lambda: last_error(damaged))):
        answer(what, read, refusable=False)
    answer("training_config", folder.training_config)
    if kind == "vqvae":
        answer("dataset_of_vqvae", lambda: provenance.dataset_of_vqvae(damaged), refusable=False)
        answer("load_vqvae", lambda: load_vqvae(damaged))
    else:
        answer("dataset_of_prior", lambda: provenance.dataset_of_prior(damaged), refusable=False)
        answer("vqvae_of_prior", lambda: provenance.vqvae_of_prior(damaged))
        answer("load_prior", lambda: load_prior(damaged))
    return problems


def damaged_beside_healthy(case, finished_runs, tmp_path, monkeypatch) -> tuple[str, Path, Path, dict]:
    """(kind, damaged, healthy, the healthy run's files before) in a runs folder of their own."""
    kind, rel, how = case
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    monkeypatch.setenv("VQVAE_RUNS", str(runs_dir))
    monkeypatch.chdir(REPO)
    healthy, damaged = place_runs(finished_runs[kind], runs_dir, kind)
    before = folder_snapshot(healthy)
    damage(damaged / rel, how)
    make_newest(damaged, healthy)
    return kind, damaged, healthy, before


def test_every_damaged_file_leaves_the_readers_answering(case, finished_runs, tmp_path, monkeypatch):
    kind, damaged, healthy, before = damaged_beside_healthy(case, finished_runs, tmp_path, monkeypatch)
    problems = reader_problems(kind, damaged, healthy)
    problems += healthy_files_problems(healthy, before) + healthy_loads_problems(kind, healthy)
    assert not problems, f"{case[0]} run, {case[1]} damaged ({case[2]}):\n  " + "\n  ".join(problems)


def test_a_damaged_file_of_each_kind_leaves_pages_and_cli_answering(case, finished_runs, tmp_path, monkeypatch, capsys):
    kind, damaged, healthy, before = damaged_beside_healthy(case, finished_runs, tmp_path, monkeypatch)
    problems = render_pages(kind, damaged, healthy)
    problems += damaged_cli_problems(capsys, kind, damaged, tmp_path)
    problems += healthy_problems(capsys, kind, healthy, before, tmp_path)
    assert not problems, f"{case[0]} run, {case[1]} damaged ({case[2]}):\n  " + "\n  ".join(problems)


def test_one_case_per_kind_of_file_reaches_every_kind_and_every_damage(finished_runs):
    cases = all_cases(finished_runs)
    chosen = one_case_per_kind_of_file(cases)
    assert {file_kind(k, r) for k, r, _ in chosen} == {file_kind(k, r) for k, r, _ in cases}
    assert {how for _, _, how in chosen} == {how for _, _, how in cases}


def test_the_matrix_covers_every_file_of_both_runs(finished_runs):
    """The generated cases are the runs' own files: the files every run must hold are among them."""
    for kind in KINDS:
        files = set(run_files(finished_runs[kind]))
        expected = {layout.MARKER, layout.CONFIG, layout.STATUS, layout.METRICS,
                    *(f"checkpoints/{which}/{name}" for which in ("best", "last") for name in (layout.WEIGHTS, layout.CONFIG))}
        assert expected <= files, sorted(expected - files)
        assert not any(Path(f).name == layout.LOCK for f in files)
