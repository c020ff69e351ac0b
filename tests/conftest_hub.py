"""Fixtures for tests on downloads written by huggingface_hub itself (see hub_endpoint.py).

- ``hub_endpoint`` (session): the local Hub (``HubEndpoint``), started once, stopped at the end.
- ``hub_environment`` (function): the process environment of a download: ``HF_ENDPOINT`` at the
  local Hub, ``HF_HOME``/``HF_HUB_CACHE`` in tmp_path, no token, no offline mode, no telemetry,
  no Xet; huggingface_hub's constants (read at import) patched to match; host names other than
  127.0.0.1/localhost fail to resolve (no network). Returns the endpoint.
- ``hub_cache`` (function): ``hub_cache(root, *, files=None, revisions=None, shared=False,
  repo_id=REPO_ID, via="snapshot", allow_patterns=None, filenames=None) -> CacheDownload``:
  publishes the files (or ``revisions``: branch -> files, committed in order, "main" first by
  default), downloads every branch into the cache at ``root`` with huggingface_hub
  (``snapshot_download`` or, ``via="files"``, one ``hf_hub_download`` per file), optionally moves
  the LFS blobs into the shared store, and points ``HF_HUB_CACHE`` at ``root``. The result unpacks
  as ``cache_root, repo_folder, snapshot``; ``.by_branch`` holds every branch's download.
- ``local_dir_download`` (function): ``local_dir_download(folder, *, files=None, repo_id=REPO_ID,
  via="snapshot", allow_patterns=None, filenames=None) -> LocalDirDownload``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence

import pytest

from hub_endpoint import (
    REPO_ID,
    CacheDownload,
    HubEndpoint,
    LocalDirDownload,
    Via,
    download_cache,
    download_local_dir,
    model_files,
    share_blobs,
)

HubCacheBuilder = Callable[..., CacheDownload]
LocalDirBuilder = Callable[..., LocalDirDownload]


@pytest.fixture(scope="session")
def hub_endpoint() -> Iterator[HubEndpoint]:
    pytest.importorskip("huggingface_hub", minversion="1.0")
    with HubEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def hub_environment(
    hub_endpoint: HubEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> HubEndpoint:
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    for name in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_DISABLE_SHARED_BLOBS",
    ):
        monkeypatch.delenv(name, raising=False)
    env = {
        "HF_ENDPOINT": hub_endpoint.url,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    patched: Dict[str, Any] = {
        "ENDPOINT": hub_endpoint.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub_endpoint.url
        + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_XET": True,  # no Xet server here: LFS files come over plain HTTP
        "HF_HUB_DISABLE_PROGRESS_BARS": True,
    }
    for name, value in patched.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(socket, "getaddrinfo", _local_getaddrinfo)
    return hub_endpoint


_real_getaddrinfo = socket.getaddrinfo


def _local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """No network but the local Hub: any other host name fails at once."""
    name = host.decode() if isinstance(host, bytes) else host
    if name not in ("127.0.0.1", "localhost", "::1", None):
        raise socket.gaierror(socket.EAI_NONAME, f"the tests reach no network: {name}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture
def hub_cache(hub_environment: HubEndpoint, monkeypatch: pytest.MonkeyPatch) -> HubCacheBuilder:
    def build(
        root: Path,
        *,
        files: Optional[Mapping[str, bytes]] = None,
        revisions: Optional[Mapping[str, Mapping[str, bytes]]] = None,
        shared: bool = False,
        repo_id: str = REPO_ID,
        via: Via = "snapshot",
        allow_patterns: Optional[Sequence[str]] = None,
        filenames: Optional[Sequence[str]] = None,
    ) -> CacheDownload:
        if revisions is None:
            revisions = {"main": files if files is not None else model_files()}
        commits = hub_environment.publish(repo_id, revisions)
        root.mkdir(parents=True, exist_ok=True)
        downloads: Dict[str, CacheDownload] = {}
        for branch, branch_files in revisions.items():
            download = download_cache(
                hub_environment,
                root,
                branch_files,
                repo_id=repo_id,
                revision=branch,
                commit=commits[branch],
                via=via,
                allow_patterns=allow_patterns,
                filenames=filenames,
            )
            if shared:
                share_blobs(download)
            downloads[branch] = download
        monkeypatch.setenv("HF_HUB_CACHE", str(root))
        first = next(iter(downloads.values()))
        main = downloads.get("main", first)
        return CacheDownload(
            main.cache_root,
            main.repo_folder,
            main.snapshot,
            main.commit,
            main.files,
            repo_id,
            downloads,
        )

    return build


@pytest.fixture
def local_dir_download(hub_environment: HubEndpoint) -> LocalDirBuilder:
    def build(
        folder: Path,
        *,
        files: Optional[Mapping[str, bytes]] = None,
        repo_id: str = REPO_ID,
        via: Via = "snapshot",
        allow_patterns: Optional[Sequence[str]] = None,
        filenames: Optional[Sequence[str]] = None,
    ) -> LocalDirDownload:
        files = files if files is not None else model_files()
        commit = hub_environment.publish(repo_id, {"main": files})["main"]
        return download_local_dir(
            hub_environment,
            folder,
            files,
            commit=commit,
            repo_id=repo_id,
            via=via,
            allow_patterns=allow_patterns,
            filenames=filenames,
        )

    return build
