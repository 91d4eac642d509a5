"""Fetching a torchvision data set (full MNIST, Fashion-MNIST, CIFAR-10) into the data root.

Everything about the files comes from torchvision itself (`cls.mirrors` and `cls.resources`
for the MNIST kinds, `CIFAR10.url`, `.filename`, `.tgz_md5`, its per-file md5s), so a
downloaded set is exactly what `torchvision_set(..., download=False)` reads. The write is
atomic: the files land in a hidden staging folder inside the data root, are checked against
torchvision's md5s, extracted, read once by torchvision, and only then is the finished
folder (`MNIST`, `FashionMNIST`, `cifar-10-batches-py`) renamed into place. A failed or
cancelled download leaves nothing behind, and files the project did not write are never
touched. `start_download` runs one in a background thread that a page can poll.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from vqvae.background import Job, Jobs
from vqvae.data.datasets import TORCHVISION_SETS, default_data_root
from vqvae.errors import VQVAEError

DOWNLOADABLE = tuple(TORCHVISION_SETS)  # "mnist" (the full set), "fashion", "cifar10"
TIMEOUT_S = 30.0  # per connection and per read: a stalled server fails instead of hanging
CHUNK = 1 << 16
# What a failing connection raises: URLError (refused, DNS, HTTP errors), socket timeouts and
# resets (OSError), a cut response (HTTPException), an unusable mirror URL (ValueError).
NETWORK_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException, ValueError)

Progress = Callable[[int, "int | None"], None]  # (bytes done, bytes in all or None when unknown)


class Cancelled(VQVAEError):
    """The download was cancelled; nothing was kept."""


def torchvision_class(dataset: str):
    import torchvision.datasets as tvd

    if dataset not in TORCHVISION_SETS:
        raise VQVAEError(f"only torchvision's data sets can be downloaded ({', '.join(TORCHVISION_SETS)}), "
                         f"not {dataset!r}")
    return getattr(tvd, TORCHVISION_SETS[dataset])


def _is_cifar(cls) -> bool:
    return hasattr(cls, "base_folder")


def target_folder(dataset: str, root: Path | str | None = None) -> Path:
    """The folder a data set's files live in: ROOT/MNIST/raw, ROOT/FashionMNIST/raw, ROOT/cifar-10-batches-py."""
    cls, root = torchvision_class(dataset), Path(root) if root is not None else default_data_root()
    return root / cls.base_folder if _is_cifar(cls) else root / cls.__name__ / "raw"


def _moved_folder(cls, root: Path) -> Path:
    """The one folder the download renames into place (MNIST's is above raw/)."""
    return root / (cls.base_folder if _is_cifar(cls) else cls.__name__)


def _expected_files(cls) -> list[str]:
    """The names torchvision looks for inside target_folder."""
    if _is_cifar(cls):
        return [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [os.path.splitext(name)[0] for name, _ in cls.resources]  # stored un-gzipped


def present(dataset: str, root: Path | str | None = None) -> bool:
    """Whether every file torchvision reads for the data set is there (names only: cheap enough
    for every page run; torchvision checks the contents when it loads them)."""
    folder = target_folder(dataset, root)
    return all((folder / name).is_file() for name in _expected_files(torchvision_class(dataset)))


def _sources(cls) -> list[tuple[str, list[str], str]]:
    """(file name, candidate URLs in order, md5) of each file to fetch."""
    if _is_cifar(cls):
        return [(cls.filename, [cls.url], cls.tgz_md5)]
    return [(name, [f"{mirror}{name}" for mirror in cls.mirrors], md5) for name, md5 in cls.resources]


def _request(url: str, method: str = "GET") -> urllib.request.Request:
    from torchvision.datasets.utils import USER_AGENT

    return urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})


def _reason(exc: Exception) -> str:
    """One short line for a network failure."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    return " ".join(f"{type(reason).__name__}: {text}".split()) if text else type(reason).__name__


def _unreachable(cls, root: Path, failures: list[tuple[str, Exception]]) -> VQVAEError:
    hosts = list(dict.fromkeys(urlparse(url).netloc or url for url, _ in failures))
    return VQVAEError(f"could not reach {' or '.join(hosts)} ({_reason(failures[-1][1])}): place torchvision's "
                      f"{cls.__name__} files in {_moved_folder(cls, root)}"
                      + ("" if _is_cifar(cls) else "/raw") + ", or retry with network access")


def _cannot_write(root: Path, exc: OSError) -> VQVAEError:
    return VQVAEError(f"cannot write into {root} ({exc.strerror or exc}): free some space or set VQVAE_DATA "
                      f"to a writable folder")


def _probe(urls: list[str], timeout: float) -> tuple[list[str], int | None, list]:
    """The URLs reordered so the first mirror that answers comes first, with its size (None when
    the server gives none); the failures, when no mirror answered."""
    failures = []
    for i, url in enumerate(urls):
        try:
            with urllib.request.urlopen(_request(url, "HEAD"), timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                return urls[i:] + urls[:i], int(length) if length and length.isdigit() else None, []
        except urllib.error.HTTPError as exc:
            if exc.code in (403, 405, 501):  # a server that refuses HEAD may still serve GET
                return urls[i:] + urls[:i], None, []
            failures.append((url, exc))
        except NETWORK_ERRORS as exc:
            failures.append((url, exc))
    return urls, None, failures


def _fetch(urls: list[str], dest: Path, timeout: float, counted: Callable[[int], None],
           cancel: threading.Event | None) -> list:
    """Stream the first URL that works into dest; the failures when none did (dest then holds
    nothing that counts). A write error or a cancel raises at once."""
    failures = []
    for url in urls:
        got = 0
        try:
            out = open(dest, "wb")  # opened apart: its errors are the disk's, not the network's
        except OSError as exc:
            raise _cannot_write(dest.parent, exc) from None
        try:
            with out, urllib.request.urlopen(_request(url), timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                while chunk := response.read(CHUNK):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("the download was cancelled: nothing was kept")
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise _cannot_write(dest.parent, exc) from None
                    got += len(chunk)
                    counted(len(chunk))
                try:
                    out.flush()
                except OSError as exc:
                    raise _cannot_write(dest.parent, exc) from None
                if length and length.isdigit() and got != int(length):
                    raise http.client.IncompleteRead(b"", int(length) - got)
            return []
        except NETWORK_ERRORS as exc:
            counted(-got)  # the next mirror starts this file again
            failures.append((url, exc))
    return failures


def _fetch_into(staging: Path, cls, root: Path, folder: Path, progress: Progress | None, timeout: float,
                cancel: threading.Event | None) -> None:
    """Every file of torchvision's `cls` into `staging`, checked against its md5 and extracted
    there, as torchvision lays it out; progress counts bytes over all the files."""
    from torchvision.datasets.utils import check_integrity, extract_archive

    sources = []
    for name, urls, md5 in _sources(cls):
        urls, size, failures = _probe(urls, timeout)
        if failures:
            raise _unreachable(cls, root, failures)
        sources.append((name, urls, md5, size))
    sizes = [size for *_, size in sources]
    total = None if None in sizes else sum(sizes)
    done = 0

    def counted(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    into = staging if _is_cifar(cls) else staging / cls.__name__ / "raw"
    into.mkdir(parents=True, exist_ok=True)
    for name, urls, md5, _ in sources:
        archive = into / name
        failures = _fetch(urls, archive, timeout, counted, cancel)
        if failures:
            raise _unreachable(cls, root, failures)
        if not check_integrity(str(archive), md5):
            raise VQVAEError(f"{name} from {urlparse(urls[0]).netloc} failed torchvision's checksum (damaged or "
                             f"changed on the server): nothing was kept; retry later, or place torchvision's "
                             f"{cls.__name__} files in {folder}")
        extract_archive(str(archive), str(into), remove_finished=True)


def download_dataset(dataset: str, root: Path | str | None = None, progress: Progress | None = None,
                     timeout: float = TIMEOUT_S, cancel: threading.Event | None = None) -> Path:
    """Download torchvision's files of `dataset` ("mnist", "fashion", "cifar10") into `root`
    (default: VQVAE_DATA, else data/) and return the folder they are in. Does nothing when they
    are all there already. `progress(done, total)` is called as bytes arrive (total None when a
    server gives no sizes); setting `cancel` stops it. Every failure is a one-line VQVAEError,
    and leaves the data root as it was."""
    cls = torchvision_class(dataset)
    root = Path(root) if root is not None else default_data_root()
    moved, folder = _moved_folder(cls, root), target_folder(dataset, root)
    if present(dataset, root):
        return folder
    if moved.exists() and (not moved.is_dir() or any(moved.iterdir())):
        raise VQVAEError(f"{moved} exists but does not hold all of torchvision's {cls.__name__} files: "
                         f"complete it by hand, or move it away and download again")

    made_root = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{cls.__name__}-download-"))
    except OSError as exc:
        raise _cannot_write(root, exc) from None
    try:
        _fetch_into(staging, cls, root, folder, progress, timeout, cancel)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the download was cancelled: nothing was kept")
        try:  # torchvision reads it once (its own md5s for CIFAR-10) before it goes into place
            cls(str(staging), train=False, download=False)
        except Exception as exc:  # torchvision raises RuntimeError, pickle or IDX format errors...
            raise VQVAEError(f"the downloaded {cls.__name__} files do not load ({type(exc).__name__}): nothing was "
                             f"kept; retry, or place torchvision's {cls.__name__} files in {folder}") from None
        try:
            os.rename(staging / moved.name, moved)  # replaces only a missing or empty folder
        except OSError as exc:
            if not present(dataset, root):  # unless another download put it there meanwhile
                raise _cannot_write(root, exc) from None
        return folder
    except OSError as exc:  # disk full while extracting, a folder made read-only meanwhile, ...
        raise _cannot_write(root, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if made_root:
            try:
                root.rmdir()  # only when empty: the download failed before anything was kept
            except OSError:
                pass


class DownloadJob(Job):
    """One download running in a background thread; a page polls its fields.

    state: "running", then "done", "failed" or "cancelled" (message says why)."""

    def __init__(self, dataset: str, root: Path, timeout: float = TIMEOUT_S):
        self.dataset, self.root, self.timeout = dataset, root, timeout
        self.done, self.total = 0, None
        work = lambda job: download_dataset(dataset, root, self._progress, timeout, self.cancelled)  # noqa: E731
        super().__init__(work, f"download-{dataset}", {Cancelled: "cancelled", VQVAEError: "failed"},
                         "the download failed unexpectedly")

    def _progress(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total

    @property
    def fraction(self) -> float | None:
        """How much has arrived, in [0, 1]; None while the size is unknown."""
        if self.state == "done":
            return 1.0
        return min(self.done / self.total, 1.0) if self.total else None

    def describe(self) -> str:  # "12.5 of 170.5 MB"
        return f"{self.done / 1e6:.1f} of {self.total / 1e6:.1f} MB" if self.total else f"{self.done / 1e6:.1f} MB"


# At exit running downloads are cancelled (their partial files removed) and waited for: none is cut off mid-write
_JOBS = Jobs(keep=16, cancel_at_exit=True, exit_wait_s=30)


def _key(dataset: str, root: Path | str | None) -> tuple[str, str]:
    return dataset, str((Path(root) if root is not None else default_data_root()).resolve())


def start_download(dataset: str, root: Path | str | None = None, timeout: float = TIMEOUT_S) -> DownloadJob:
    """Download a data set in a background thread; while one for the same set and root runs,
    that one is returned (a second click starts nothing)."""
    torchvision_class(dataset)  # an unknown name fails here, not in the thread
    key = _key(dataset, root)
    return _JOBS.start(key, lambda: DownloadJob(dataset, Path(key[1]), timeout))


def download_job(dataset: str, root: Path | str | None = None) -> DownloadJob | None:
    """The latest download of a data set into root in this process (running or ended), or None."""
    return _JOBS.get(_key(dataset, root))
