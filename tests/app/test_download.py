"""Downloading a torchvision data set, against a local HTTP server that
serves tiny archives in torchvision's exact formats: torchvision's mirror lists, URLs and
md5s are pointed at it, so no test reaches another host."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle  # CIFAR-10's own format (torchvision unpickles it); only the test writes one
import socket
import tarfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
import torchvision.datasets as tvd
from streamlit.testing.v1 import AppTest

from conftest import REPO, folder_snapshot
from vqvae.__main__ import main
from vqvae.data import download
from vqvae.data.datasets import load_data
from vqvae.errors import VQVAEError

N_TRAIN, N_TEST = 12, 5  # images per split in the tiny MNIST-format sets
CIFAR_PER_BATCH, CIFAR_TEST = 2, 3  # five training batches of 2, a test batch of 3


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    www: Path  # the folder it serves
    gate: threading.Event  # cleared: every GET waits (a test watches a download that runs)
    gets: list  # the paths asked for with GET


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # a developer's proxy must not see these
    www = tmp_path / "www"
    www.mkdir()
    gate, gets = threading.Event(), []
    gate.set()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            gets.append(self.path)
            gate.wait(10)
            super().do_GET()

        def log_message(self, *args):  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield Served(f"http://127.0.0.1:{httpd.server_port}", www, gate, gets)
    gate.set()
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    """A localhost port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tiny_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def idx_gz(array: np.ndarray) -> bytes:
    """An IDX file (uint8, big-endian dims), gzipped as torchvision's mirrors serve it."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def serve_mnist_kind(served: Served, monkeypatch, cls, md5s: dict | None = None) -> dict:
    """Serve a tiny set in cls's format (MNIST or FashionMNIST) and point cls at it; the arrays."""
    arrays = {"train-images-idx3-ubyte.gz": tiny_images(N_TRAIN, (28, 28), 1),
              "train-labels-idx1-ubyte.gz": np.arange(N_TRAIN, dtype=np.uint8) % 10,
              "t10k-images-idx3-ubyte.gz": tiny_images(N_TEST, (28, 28), 2),
              "t10k-labels-idx1-ubyte.gz": np.arange(N_TEST, dtype=np.uint8) % 10}
    folder = served.www / cls.__name__
    folder.mkdir()
    resources = []
    for name, array in arrays.items():
        data = idx_gz(array)
        (folder / name).write_bytes(data)
        resources.append((name, (md5s or {}).get(name, md5(data))))
    # a dead mirror first: torchvision's list is tried in order
    monkeypatch.setattr(cls, "mirrors", [f"http://127.0.0.1:{closed_port()}/", f"{served.url}/{cls.__name__}/"])
    monkeypatch.setattr(cls, "resources", resources)
    return arrays


def serve_cifar(served: Served, monkeypatch, archive_md5: str | None = None, url: str | None = None) -> dict:
    """Serve a tiny cifar-10-python.tar.gz and point CIFAR10 (its URL and every md5) at it."""
    batches = {f"data_batch_{i}": tiny_images(CIFAR_PER_BATCH, (3072,), 10 + i) for i in range(1, 6)}
    batches["test_batch"] = tiny_images(CIFAR_TEST, (3072,), 20)
    files = {name: pickle.dumps({"data": data, "labels": [j % 10 for j in range(len(data))]}, protocol=2)
             for name, data in batches.items()}
    files["batches.meta"] = pickle.dumps({"label_names": [f"class {i}" for i in range(10)]}, protocol=2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = buffer.getvalue()
    (served.www / "cifar-10-python.tar.gz").write_bytes(archive)
    monkeypatch.setattr(tvd.CIFAR10, "url", url or f"{served.url}/cifar-10-python.tar.gz")
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", archive_md5 or md5(archive))
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", md5(files[f"data_batch_{i}"])]
                                                    for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", md5(files["test_batch"])]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                              "md5": md5(files["batches.meta"])})
    return batches


def assert_one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
def test_an_mnist_kind_set_downloads_with_progress_and_loads(server, monkeypatch, tmp_path, dataset):
    cls = getattr(tvd, {"mnist": "MNIST", "fashion": "FashionMNIST"}[dataset])
    arrays = serve_mnist_kind(server, monkeypatch, cls)
    root, seen = tmp_path / "data", []
    folder = download.download_dataset(dataset, root, progress=lambda done, total: seen.append((done, total)))
    total = sum((server.www / cls.__name__ / name).stat().st_size for name in arrays)
    assert seen[0] == (0, total) and seen[-1] == (total, total)  # sizes known up front: 0 to 100 %
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # never goes back
    assert folder == root / cls.__name__ / "raw" and download.present(dataset, root)
    assert sorted(p.name for p in root.iterdir()) == [cls.__name__]  # no staging folder, no archive left over
    assert sorted(p.name for p in folder.iterdir()) == sorted(name[:-3] for name in arrays)

    data = load_data(dataset, 1, 28, str(root))
    assert data.name == f"{dataset} (torchvision)"
    assert data.train.shape == (N_TRAIN, 1, 28, 28) and data.val.shape == (N_TEST, 1, 28, 28)
    assert torch.equal(data.train[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte.gz"]))
    assert data.val_labels.tolist() == arrays["t10k-labels-idx1-ubyte.gz"].tolist()


def test_cifar10_downloads_into_the_default_data_root_and_loads(server, monkeypatch, tmp_path):
    batches = serve_cifar(server, monkeypatch)
    root = tmp_path / "data"
    monkeypatch.setenv("VQVAE_DATA", str(root))
    assert not download.present("cifar10")
    assert download.download_dataset("cifar10") == root / "cifar-10-batches-py"
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]
    assert "cifar-10-python.tar.gz" not in {p.name for p in (root / "cifar-10-batches-py").iterdir()}

    data = load_data("cifar10", 3, 32)  # the default root, as the Train page and the CLI load it
    assert data.train.shape == (5 * CIFAR_PER_BATCH, 3, 32, 32) and data.val.shape == (CIFAR_TEST, 3, 32, 32)
    first = torch.from_numpy(batches["data_batch_1"][0].reshape(3, 32, 32))  # CIFAR stores planes: R, G, B
    assert torch.equal(data.train[0], first)
    assert load_data("cifar10", 1, 16).train.shape == (10, 1, 16, 16)  # fitted to a model like any set

    gets = len(server.gets)
    assert download.download_dataset("cifar10") == root / "cifar-10-batches-py"  # there: nothing fetched
    assert len(server.gets) == gets


def test_an_unreachable_server_says_where_to_put_the_files_and_leaves_nothing(monkeypatch, tmp_path):
    port = closed_port()
    monkeypatch.setattr(tvd.CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    root = tmp_path / "data"
    started = time.monotonic()
    with pytest.raises(VQVAEError) as exc:
        download.download_dataset("cifar10", root, timeout=5)
    message = assert_one_line(exc)
    assert time.monotonic() - started < 5
    assert message.startswith(f"could not reach 127.0.0.1:{port} (")
    assert f"place torchvision's CIFAR10 files in {root / 'cifar-10-batches-py'}" in message
    assert not root.exists()  # the data root it had to make is gone again

    root.mkdir()
    (root / "notes.txt").write_text("mine")
    monkeypatch.setattr(tvd.MNIST, "mirrors", [f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{closed_port()}/"])
    with pytest.raises(VQVAEError) as exc:
        download.download_dataset("mnist", root, timeout=5)
    message = assert_one_line(exc)
    assert " or 127.0.0.1:" in message and f"files in {root / 'MNIST' / 'raw'}" in message
    assert folder_snapshot(root) == {"notes.txt": b"mine"}
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]


def test_an_archive_that_fails_the_checksum_is_refused_and_nothing_is_kept(server, monkeypatch, tmp_path):
    serve_cifar(server, monkeypatch, archive_md5="0" * 32)
    root = tmp_path / "data"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(VQVAEError) as exc:
        download.download_dataset("cifar10", root)
    message = assert_one_line(exc)
    assert "cifar-10-python.tar.gz" in message and "checksum" in message and "nothing was kept" in message
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]

    # one damaged MNIST file among four: the ones that passed are not kept either
    serve_mnist_kind(server, monkeypatch, tvd.MNIST, md5s={"t10k-labels-idx1-ubyte.gz": "0" * 32})
    with pytest.raises(VQVAEError, match="t10k-labels-idx1-ubyte.gz .*checksum"):
        download.download_dataset("mnist", root)
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]


def test_a_folder_the_user_started_is_never_touched(server, monkeypatch, tmp_path):
    serve_cifar(server, monkeypatch)
    root = tmp_path / "data"
    (root / "cifar-10-batches-py").mkdir(parents=True)
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"the user's copy")
    before = folder_snapshot(root)
    with pytest.raises(VQVAEError) as exc:
        download.download_dataset("cifar10", root)
    assert "exists but does not hold all" in assert_one_line(exc) and "move it away" in str(exc.value)
    assert folder_snapshot(root) == before and server.gets == []


def test_a_background_download_runs_once_reports_progress_and_ends_done(server, monkeypatch, tmp_path):
    serve_cifar(server, monkeypatch)
    root = tmp_path / "data"
    server.gate.clear()  # the body waits: the job stays running while we look
    job = download.start_download("cifar10", root)
    assert download.start_download("cifar10", root) is job  # a second click starts nothing
    assert download.download_job("cifar10", root) is job and job.state == "running"
    deadline = time.monotonic() + 10
    while job.total is None and time.monotonic() < deadline:  # the size comes from HEAD, before the body
        time.sleep(0.01)
    size = (server.www / "cifar-10-python.tar.gz").stat().st_size
    assert job.total == size and job.fraction == 0.0 and "of" in job.describe()
    server.gate.set()
    assert job.wait(10), "the download did not end"
    assert (job.state, job.message) == ("done", None)
    assert job.done == job.total == size and job.fraction == 1.0
    assert server.gets == ["/cifar-10-python.tar.gz"]
    assert load_data("cifar10", 3, 32, str(root)).val.shape == (CIFAR_TEST, 3, 32, 32)
    assert download.start_download("cifar10", root) is not job  # ended: a new click may start another


def test_a_cancelled_or_failed_background_download_leaves_nothing(server, monkeypatch, tmp_path):
    serve_cifar(server, monkeypatch)
    root = tmp_path / "data"
    server.gate.clear()
    job = download.start_download("cifar10", root)
    job.cancel()
    server.gate.set()
    assert job.wait(10)
    assert job.state == "cancelled" and "nothing was kept" in job.message
    assert not root.exists()

    monkeypatch.setattr(tvd.CIFAR10, "url", f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz")
    job = download.start_download("cifar10", root)
    assert job.wait(10)
    assert job.state == "failed" and job.message.startswith("could not reach") and "\n" not in job.message
    assert not root.exists()
    with pytest.raises(VQVAEError, match="only torchvision's data sets"):
        download.start_download("pokemon", root)


def test_the_cli_downloads_and_fails_in_one_line(server, monkeypatch, tmp_path, capsys):
    serve_cifar(server, monkeypatch)
    root = tmp_path / "data"
    assert main(["download", "cifar10", "--root", str(root), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"downloaded: {root / 'cifar-10-batches-py'}"
    assert main(["download", "cifar10", "--root", str(root), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"already there: {root / 'cifar-10-batches-py'}"

    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    assert main(["download", "fashion", "--root", str(root), "--timeout", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: could not reach") and "\n" not in err and "FashionMNIST" in err
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]


def test_the_train_page_offers_the_download_and_the_set_becomes_usable(server, monkeypatch, tmp_path):
    serve_cifar(server, monkeypatch)
    root = tmp_path / "data"
    monkeypatch.setenv("VQVAE_DATA", str(root))
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/train.py").run()
    picker = lambda: [s for s in app.selectbox if s.label == "Data set"][0]  # noqa: E731 (fresh after each run)
    picker().set_value("CIFAR-10").run()
    assert not app.exception, app.exception
    assert "CIFAR10 was not found" in app.warning[0].value

    def button(label):
        found = [b for b in app.button if b.label == label]
        assert found, f"no button {label!r} among {[b.label for b in app.button]}"
        return found[0]

    assert button("Start a run").disabled
    server.gate.clear()  # hold the body back, so the page shows the running download
    button("Download CIFAR-10").click().run()
    assert not app.exception, app.exception
    assert button("Download CIFAR-10").disabled  # a second click starts nothing
    assert app.get("progress"), "no progress bar while the download runs"
    server.gate.set()
    assert download.download_job("cifar10").wait(10)
    app.run()  # AppTest never ticks run_every: the next run sees the end
    assert not app.exception, app.exception
    assert not app.warning and not app.error and not app.get("progress")
    assert not button("Start a run").disabled  # the data_problem cache was cleared: usable at once
    assert not [b for b in app.button if b.label.startswith("Download")]

    picker().set_value("MNIST").run()  # the bundled split stands in; the full set is offered
    assert not app.exception, app.exception
    assert "bundled 10k MNIST split" in app.info[0].value
    assert not button("Download the full MNIST").disabled and not button("Start a run").disabled


def test_a_failed_download_is_said_in_page_words_until_dismissed(server, monkeypatch, tmp_path):
    monkeypatch.setattr(tvd.CIFAR10, "url", f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz")
    monkeypatch.setenv("VQVAE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(REPO)
    st.cache_data.clear()  # where each data set was found is cached per process (another test fetched CIFAR-10)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/train.py").run()
    [s for s in app.selectbox if s.label == "Data set"][0].set_value("CIFAR-10").run()
    warning = app.warning[0].value
    assert "Download button" in warning and "(RuntimeError)" not in warning and "--data" not in warning
    [b for b in app.button if b.label == "Download CIFAR-10"][0].click().run()
    assert download.download_job("cifar10").wait(10)
    app.run()
    assert [e.value for e in app.error] == [download.download_job("cifar10").message]
    [b for b in app.button if b.label == "Dismiss"][0].click().run()
    app.switch_page("pages/overview.py").run()
    app.switch_page("pages/train.py").run()  # a later visit
    assert not app.exception, app.exception
    assert not app.error  # it stayed on every later visit before
