"""An in-process stand-in for the Hugging Face Hub: huggingface_hub's own download code
runs unchanged against it (through its pluggable HTTP client), so the cache it fills has the
Hub's real layout. No sockets, no network."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import httpx2
import huggingface_hub
from huggingface_hub.utils._http import default_client_factory, hf_request_event_hook


def repo_files(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under folder as {path in repo: bytes}, under `prefix/`."""
    return {f"{prefix}/{p.relative_to(folder)}".lstrip("/"): p.read_bytes()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _handler(repos: dict[str, dict[str, bytes]]):
    commits = {r: hashlib.sha1(repr(sorted(f)).encode()).hexdigest() for r, f in repos.items()}

    def handle(request: httpx2.Request) -> httpx2.Response:
        parts = [p for p in request.url.path.split("/") if p]
        if parts[:2] == ["api", "models"]:  # model_info, and the file tree snapshot_download lists
            repo = "/".join(parts[2:4])
            if repo not in repos:
                return httpx2.Response(404, headers={"X-Error-Code": "RepoNotFound"})
            files = repos[repo]
            if parts[4:5] == ["tree"]:
                return httpx2.Response(200, json=[{"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                                                  for p, b in files.items()])
            return httpx2.Response(200, json={"id": repo, "sha": commits[repo], "siblings": [{"rfilename": p} for p in files]})
        if len(parts) >= 5 and parts[2] == "resolve":  # HEAD then GET of one file
            repo = "/".join(parts[:2])
            if repo not in repos:
                return httpx2.Response(404, headers={"X-Error-Code": "RepoNotFound"})
            body = repos[repo].get("/".join(parts[4:]))
            if body is None:
                return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commits[repo]})
            headers = {"X-Repo-Commit": commits[repo], "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                       "Content-Length": str(len(body))}
            return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else body)
        return httpx2.Response(404)

    return handle


@contextlib.contextmanager
def fake_hub(repos: dict[str, dict[str, bytes]]):
    """Serve {repo id: {path: bytes}} to huggingface_hub for the duration of the block."""
    huggingface_hub.set_client_factory(lambda: httpx2.Client(
        transport=httpx2.MockTransport(_handler(repos)), event_hooks={"request": [hf_request_event_hook]},
        follow_redirects=True))
    try:
        yield
    finally:
        huggingface_hub.set_client_factory(default_client_factory)
