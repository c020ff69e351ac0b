"""Builders of caches holding several repos, written by huggingface_hub from the local Hub.

- ``several_repos`` (function): ``several_repos(root, repos) -> Dict[str, CacheDownload]``:
  ``repos`` maps ``"models/ORG/NAME"``, ``"datasets/ORG/NAME"`` or ``"spaces/ORG/NAME"`` (a
  bare ``ORG/NAME`` is a model) to ``{branch: files}``; each repo is published on the local
  Hub and every branch downloaded into the one cache at ``root`` with ``snapshot_download``
  (``shared=True``: the LFS blobs then moved into the shared store with huggingface_hub's own
  functions). Points ``HF_HUB_CACHE`` at ``root``.

Test modules use it with ``pytest_plugins = ["conftest_cache_many"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Mapping

import pytest

from hub_endpoint import CacheDownload, HubEndpoint, download_cache, share_blobs

SeveralRepos = Callable[..., Dict[str, CacheDownload]]
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def _split(name: str) -> tuple[str, str]:
    """``datasets/ORG/NAME`` -> (``dataset``, ``ORG/NAME``); ``ORG/NAME`` is a model."""
    kind, _, rest = name.partition("/")
    if kind in _TYPES and rest.count("/") == 1:
        return _TYPES[kind], rest
    return "model", name


@pytest.fixture
def several_repos(hub_environment: HubEndpoint, monkeypatch: pytest.MonkeyPatch) -> SeveralRepos:
    def build(
        root: Path,
        repos: Mapping[str, Mapping[str, Mapping[str, bytes]]],
        *,
        shared: bool = False,
    ) -> Dict[str, CacheDownload]:
        root.mkdir(parents=True, exist_ok=True)
        built: Dict[str, CacheDownload] = {}
        for name, revisions in repos.items():
            repo_type, repo_id = _split(name)
            commits = hub_environment.publish(repo_id, revisions, repo_type=repo_type)
            downloads: Dict[str, CacheDownload] = {}
            for branch, files in revisions.items():
                download = download_cache(
                    hub_environment,
                    root,
                    files,
                    repo_id=repo_id,
                    revision=branch,
                    commit=commits[branch],
                    repo_type=repo_type,
                )
                if shared:
                    share_blobs(download)
                downloads[branch] = download
            main = downloads.get("main", next(iter(downloads.values())))
            built[name] = CacheDownload(
                main.cache_root,
                main.repo_folder,
                main.snapshot,
                main.commit,
                main.files,
                repo_id,
                downloads,
            )
        monkeypatch.setenv("HF_HUB_CACHE", str(root))
        return built

    return build
