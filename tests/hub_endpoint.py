"""A local stand-in for the Hugging Face Hub, and builders of real huggingface_hub downloads.

``HubEndpoint`` serves synthetic repos from memory over plain HTTP on 127.0.0.1 (two ports:
the Hub itself and a "CDN" that LFS files redirect to, a different origin as on the real Hub).
It answers the routes huggingface_hub 2.4 asks for:

- ``GET /api/{models,datasets,spaces}/ORG/NAME[/revision/REV]``: repo info (``sha``, ``siblings``);
- ``GET /api/{kind}s/ORG/NAME/tree/REV[/PATH]?recursive=...``: the tree listing, paginated with
  a ``Link: <...>; rel="next"`` header (``page_size`` entries a page);
- ``HEAD``/``GET /[datasets/|spaces/]ORG/NAME/resolve/REV/PATH``: a git file answers 200 with
  ``ETag`` (its git blob id), ``X-Repo-Commit``, ``Content-Length``; an LFS file answers 302 to
  the CDN with ``ETag``/``X-Linked-Etag`` (its SHA-256), ``X-Linked-Size``, ``X-Repo-Commit``;
  an unknown file 404 ``X-Error-Code: EntryNotFound``; an unknown revision 404 ``RevisionNotFound``;
- ``HEAD``/``GET /lfs/SHA256`` on the CDN: the LFS content.

No Xet headers are ever sent: downloads go over plain HTTP. The tree listing still names a
``xetHash`` for each LFS file (a stand-in: 64 hex digits derived from the content) so that the
shared blob store of huggingface_hub can be built with its own functions afterwards.

The builders (``download_cache``, ``share_blobs``, ``download_local_dir``) call
huggingface_hub's public ``hf_hub_download`` / ``snapshot_download``: the caches they leave are
the ones a user would have. They expect the environment ``hub_environment`` sets up (see
``conftest_hub.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

REPO_ID = "BelleGroup/BELLE-Test-2B"
LFS_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".gguf", ".h5")
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
INDEX = "model.safetensors.index.json"
PathLike = Union[str, "os.PathLike[str]"]


# ------------------------------------------------------------------ content and addresses


def generated(label: str, size: int) -> bytes:
    """Deterministic content: SHAKE-128 of the label, truncated to size."""
    return hashlib.shake_128(label.encode()).digest(size)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (
        b"version https://git-lfs.github.com/spec/v1\n"
        + f"oid sha256:{sha256(data)}\nsize {len(data)}\n".encode()
    )


def xet_hash_of(data: bytes) -> str:
    """A stand-in Xet file hash: 64 lowercase hex digits, different from the SHA-256."""
    return hashlib.sha256(b"xet file hash\0" + data).hexdigest()


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def etag_of(path: str, data: bytes) -> str:
    """The name huggingface_hub gives the blob: SHA-256 for LFS files, git blob id otherwise."""
    return sha256(data) if is_lfs(path) else git_blob_id(data)


def safetensors_of(data: bytes) -> bytes:
    """A valid safetensors file holding ``data`` as one U8 tensor: shards must pass the
    structure check when they have no address."""
    header = json.dumps(
        {"weight": {"dtype": "U8", "shape": [len(data)], "data_offsets": [0, len(data)]}}
    ).encode()
    return len(header).to_bytes(8, "little") + header + data


def model_files(
    variant: str = "", shard_sizes: Tuple[int, int] = (48_000, 32_000)
) -> Dict[str, bytes]:
    """A small sharded model: git files, two LFS shards named by the index, files in subfolders.

    ``variant`` changes the content of every file but the second shard (so that two revisions
    share that shard's blob).
    """
    shard_1 = safetensors_of(generated(f"shard 1{variant}", shard_sizes[0]))
    shard_2 = safetensors_of(generated("shard 2", shard_sizes[1]))
    index = {
        "metadata": {"total_size": len(shard_1) + len(shard_2)},
        "weight_map": {
            "lm_head.weight": SHARDS[1],
            "model.embed_tokens.weight": SHARDS[0],
            "model.layers.0.mlp.weight": SHARDS[0],
            "model.norm.weight": SHARDS[1],
        },
    }
    return {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        b"*.onnx filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": f"# BELLE test model{variant}\n".encode(),
        "config.json": f'{{"model_type": "bloom", "variant": "{variant}"}}\n'.encode(),
        "tokenizer.json": f'{{"version": "1.0", "added_tokens": ["{variant}"]}}\n'.encode(),
        SHARDS[0]: shard_1,
        SHARDS[1]: shard_2,
        INDEX: (json.dumps(index, indent=2, sort_keys=True) + "\n").encode(),
        "onnx/model.onnx": generated(f"onnx{variant}", 12_000),
        "tokenizer/vocab.txt": f"[PAD]\n[UNK]\nbelle{variant}\n".encode(),
    }


# ------------------------------------------------------------------ the repos served


@dataclass(frozen=True)
class TreeFile:
    path: str
    content: bytes

    @property
    def lfs(self) -> bool:
        return is_lfs(self.path)

    @property
    def blob_id(self) -> str:
        return git_blob_id(lfs_pointer(self.content) if self.lfs else self.content)

    @property
    def etag(self) -> str:
        return etag_of(self.path, self.content)

    @property
    def xet_hash(self) -> Optional[str]:
        return xet_hash_of(self.content) if self.lfs else None

    def listing(self) -> Dict[str, Any]:
        entry: Dict[str, Any] = {
            "type": "file",
            "oid": self.blob_id,
            "size": len(self.content),
            "path": self.path,
        }
        if self.lfs:
            entry["lfs"] = {
                "oid": sha256(self.content),
                "size": len(self.content),
                "pointerSize": len(lfs_pointer(self.content)),
            }
            entry["xetHash"] = self.xet_hash
        return entry


@dataclass
class HubRepo:
    repo_id: str
    repo_type: str = "model"
    commits: Dict[str, Dict[str, TreeFile]] = field(default_factory=dict)
    refs: Dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Optional[str]:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


def commit_id(files: Mapping[str, bytes], parent: str) -> str:
    lines = "".join(f"{path} {etag_of(path, files[path])}\n" for path in sorted(files))
    return hashlib.sha1(f"parent {parent}\n{lines}".encode()).hexdigest()


class HubEndpoint:
    """The Hub and its CDN on two free ports of 127.0.0.1, serving repos from memory."""

    def __init__(self, page_size: int = 4) -> None:
        self.page_size = page_size
        self.repos: Dict[Tuple[str, str], HubRepo] = {}
        self.requests: List[Tuple[str, str]] = []
        self._lock = threading.Lock()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, cdn=False))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, cdn=True))
        self._threads: List[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> HubEndpoint:
        for server in (self._hub, self._cdn):
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> HubEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def publish(
        self,
        repo_id: str,
        revisions: Mapping[str, Mapping[str, bytes]],
        repo_type: str = "model",
    ) -> Dict[str, str]:
        """Serve a repo whose branches hold these files; returns branch -> commit hash.

        Commits are made in the order given, each the parent of the next; publishing a repo
        again replaces it. ``revisions`` must name ``main`` (huggingface_hub's default).
        """
        repo = HubRepo(repo_id, repo_type)
        parent = ""
        for branch, files in revisions.items():
            sha = commit_id(files, parent)
            repo.commits[sha] = {path: TreeFile(path, data) for path, data in files.items()}
            repo.refs[branch] = sha
            parent = sha
        with self._lock:
            self.repos[(repo_type, repo_id)] = repo
        return dict(repo.refs)

    def tree_file(self, repo_id: str, commit: str, path: str, repo_type: str = "model") -> TreeFile:
        return self.repos[(repo_type, repo_id)].commits[commit][path]

    # -------------------------------------------------------------- request handling

    def _repo(self, repo_type: str, repo_id: str) -> Optional[HubRepo]:
        with self._lock:
            return self.repos.get((repo_type, repo_id))


Reply = Tuple[int, Dict[str, str], bytes]


def _not_found(code: str, extra: Optional[Dict[str, str]] = None) -> Reply:
    body = json.dumps({"error": code}).encode()
    return 404, {"X-Error-Code": code, "Content-Type": "application/json", **(extra or {})}, body


def _json(data: Any, extra: Optional[Dict[str, str]] = None) -> Reply:
    return 200, {"Content-Type": "application/json", **(extra or {})}, json.dumps(data).encode()


_KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}


def _route_api(endpoint: HubEndpoint, parts: List[str], query: Dict[str, List[str]]) -> Reply:
    # parts: [kind, org, name, ...rest]
    if len(parts) < 3 or parts[0] not in _KINDS:
        return _not_found("NotFound")
    repo_type, repo_id, rest = _KINDS[parts[0]], f"{parts[1]}/{parts[2]}", parts[3:]
    repo = endpoint._repo(repo_type, repo_id)
    if repo is None:
        return _not_found("RepoNotFound")
    if not rest or rest[0] == "revision":
        commit = repo.resolve(rest[1] if len(rest) > 1 else "main")
        if commit is None:
            return _not_found("RevisionNotFound")
        siblings = [{"rfilename": path} for path in sorted(repo.commits[commit])]
        info = {
            "_id": repo_id,
            "id": repo_id,
            "sha": commit,
            "private": False,
            "siblings": siblings,
            "tags": [],
            "downloads": 0,
            "likes": 0,
        }
        return _json(info)
    if rest[0] == "tree" and len(rest) >= 2:
        commit = repo.resolve(rest[1])
        if commit is None:
            return _not_found("RevisionNotFound")
        return _tree_page(endpoint, repo, commit, "/".join(rest[2:]), parts, query)
    return _not_found("NotFound")


def _tree_page(
    endpoint: HubEndpoint,
    repo: HubRepo,
    commit: str,
    under: str,
    parts: List[str],
    query: Dict[str, List[str]],
) -> Reply:
    recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
    prefix = f"{under}/" if under else ""
    entries: Dict[str, Dict[str, Any]] = {}
    for path, tree_file in sorted(repo.commits[commit].items()):
        if not path.startswith(prefix):
            continue
        below = PurePosixPath(path[len(prefix) :]).parts
        for depth in range(1, len(below)):
            folder = prefix + "/".join(below[:depth])
            if recursive or depth == 1:
                oid = hashlib.sha1(folder.encode()).hexdigest()
                entries.setdefault(
                    folder, {"type": "directory", "oid": oid, "size": 0, "path": folder}
                )
        if recursive or len(below) == 1:
            entries[path] = tree_file.listing()
    ordered = [entries[key] for key in sorted(entries)]
    start = int(query.get("cursor", ["0"])[0])
    page = ordered[start : start + endpoint.page_size]
    extra: Dict[str, str] = {}
    if start + endpoint.page_size < len(ordered):
        base = endpoint.url + "/api/" + "/".join(quote(p, safe="") for p in parts)
        following = f"{base}?recursive={str(recursive).lower()}&cursor={start + endpoint.page_size}"
        extra["Link"] = f'<{following}>; rel="next"'
    return _json(page, extra)


def _route_resolve(endpoint: HubEndpoint, parts: List[str], head: bool) -> Reply:
    repo_type = "model"
    if parts and parts[0] in ("datasets", "spaces"):
        repo_type, parts = _KINDS[parts[0]], parts[1:]
    if len(parts) < 5 or parts[2] != "resolve":
        return _not_found("NotFound")
    repo = endpoint._repo(repo_type, f"{parts[0]}/{parts[1]}")
    if repo is None:
        return _not_found("RepoNotFound")
    commit = repo.resolve(parts[3])
    if commit is None:
        return _not_found("RevisionNotFound")
    path = "/".join(parts[4:])
    tree_file = repo.commits[commit].get(path)
    if tree_file is None:
        return _not_found("EntryNotFound", {"X-Repo-Commit": commit})
    headers = {"X-Repo-Commit": commit, "ETag": f'"{tree_file.etag}"'}
    if tree_file.lfs:
        headers.update(
            {
                "X-Linked-Etag": f'"{tree_file.etag}"',
                "X-Linked-Size": str(len(tree_file.content)),
                "Location": f"{endpoint.cdn_url}/lfs/{tree_file.etag}?repo={quote(repo.repo_id)}",
            }
        )
        return 302, headers, b""
    headers["Content-Type"] = "application/octet-stream"
    return 200, headers, tree_file.content


def _route_cdn(endpoint: HubEndpoint, parts: List[str]) -> Reply:
    if len(parts) == 2 and parts[0] == "lfs":
        with endpoint._lock:
            repos = list(endpoint.repos.values())
        for repo in repos:
            for files in repo.commits.values():
                for tree_file in files.values():
                    if tree_file.lfs and tree_file.etag == parts[1]:
                        headers = {
                            "ETag": f'"{tree_file.etag}"',
                            "Content-Type": "application/octet-stream",
                        }
                        return 200, headers, tree_file.content
    return _not_found("NotFound")


def _handler(endpoint: HubEndpoint, cdn: bool) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the requests are recorded in endpoint.requests

        def _answer(self, head: bool) -> None:
            split = urlsplit(self.path)
            parts = [unquote(p) for p in split.path.split("/") if p]
            query = parse_qs(split.query)
            with endpoint._lock:
                endpoint.requests.append((self.command, ("cdn:" if cdn else "") + self.path))
            if cdn:
                status, headers, body = _route_cdn(endpoint, parts)
            elif parts and parts[0] == "api":
                status, headers, body = _route_api(endpoint, parts[1:], query)
            else:
                status, headers, body = _route_resolve(endpoint, parts, head)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

    return Handler


# ------------------------------------------------------------------ builders


@dataclass(frozen=True)
class CacheDownload:
    """One revision of a repo in a huggingface_hub cache, as huggingface_hub wrote it.

    Unpacks as ``cache_root, repo_folder, snapshot``.
    """

    cache_root: Path
    repo_folder: Path
    snapshot: Path
    commit: str
    files: Mapping[str, bytes]  # every file of the commit, downloaded or not
    repo_id: str = REPO_ID
    by_branch: Mapping[str, CacheDownload] = field(default_factory=dict)  # every branch built

    def __iter__(self) -> Iterator[Path]:
        return iter((self.cache_root, self.repo_folder, self.snapshot))

    def blob(self, name: str) -> Path:
        """The repo's ``blobs/ETAG`` of a file (a link into the shared store when shared)."""
        return self.repo_folder / "blobs" / etag_of(name, self.files[name])

    def store_entry(self, name: str) -> Path:
        """The shared store's ``blobs/XX/XETHASH`` of an LFS file."""
        xet = xet_hash_of(self.files[name])
        return self.cache_root / "blobs" / xet[:2] / xet

    @property
    def tree_listing(self) -> Path:
        return self.repo_folder / "trees" / f"{self.commit}.json"


@dataclass(frozen=True)
class LocalDirDownload:
    folder: Path
    commit: str
    files: Mapping[str, bytes]

    @property
    def tree_listing(self) -> Path:
        return self.folder / ".cache" / "huggingface" / "trees" / f"{self.commit}.json"

    def metadata(self, name: str) -> Path:
        return self.folder / ".cache" / "huggingface" / "download" / f"{name}.metadata"


Via = Literal["snapshot", "files"]


def _download(
    endpoint: HubEndpoint,
    repo_id: str,
    revision: str,
    files: Mapping[str, bytes],
    via: Via,
    allow_patterns: Optional[Sequence[str]],
    filenames: Optional[Sequence[str]],
    repo_type: str,
    cache_dir: Optional[Path] = None,
    local_dir: Optional[Path] = None,
) -> None:
    from huggingface_hub import hf_hub_download, snapshot_download

    target: Dict[str, Any] = {"local_dir": local_dir} if local_dir else {"cache_dir": cache_dir}
    common: Dict[str, Any] = {
        "repo_type": repo_type,
        "revision": revision,
        "endpoint": endpoint.url,
        "token": False,
        **target,
    }
    if via == "snapshot":
        snapshot_download(repo_id, allow_patterns=allow_patterns, max_workers=2, **common)
        return
    for name in filenames if filenames is not None else sorted(files):
        hf_hub_download(repo_id, name, **common)


def download_cache(
    endpoint: HubEndpoint,
    cache_root: Path,
    files: Mapping[str, bytes],
    *,
    repo_id: str = REPO_ID,
    revision: str = "main",
    commit: str,
    via: Via = "snapshot",
    allow_patterns: Optional[Sequence[str]] = None,
    filenames: Optional[Sequence[str]] = None,
    repo_type: str = "model",
) -> CacheDownload:
    """Download one revision of a published repo into ``cache_root`` with huggingface_hub."""
    _download(
        endpoint,
        repo_id,
        revision,
        files,
        via,
        allow_patterns,
        filenames,
        repo_type,
        cache_dir=cache_root,
    )
    folder = cache_root / f"{repo_type}s--{repo_id.replace('/', '--')}"
    return CacheDownload(cache_root, folder, folder / "snapshots" / commit, commit, files, repo_id)


def share_blobs(download: CacheDownload, names: Optional[Sequence[str]] = None) -> List[Path]:
    """Move the download's LFS blobs into the cache's shared store with huggingface_hub's own
    functions; a store entry that is already there (another repo's) is linked to instead.

    Returns the store entries. Each repo ``blobs/ETAG`` becomes a relative link to
    ``<cache>/blobs/XX/XETHASH`` and the store gets its ``.huggingface-shared-blobs`` marker.
    """
    from huggingface_hub.utils._shared_blobs import (
        publish_blob_to_shared_store,
        try_link_from_shared_store,
    )

    entries = []
    for name in names if names is not None else sorted(download.files):
        if not is_lfs(name):
            continue
        blob = download.blob(name)
        if not blob.is_file() or blob.is_symlink():
            continue
        content = download.files[name]
        xet_hash = xet_hash_of(content)
        store = download.store_entry(name)
        arguments: Dict[str, Any] = {
            "blob_path": str(blob),
            "xet_hash": xet_hash,
            "cache_dir": download.cache_root,
            "expected_size": len(content),
        }
        if store.exists():
            done = try_link_from_shared_store(**arguments)
        else:
            done = publish_blob_to_shared_store(**arguments)
        assert done, f"huggingface_hub did not share {blob}"
        assert blob.is_symlink() and store.is_file() and not store.is_symlink()
        entries.append(store)
    return entries


def download_local_dir(
    endpoint: HubEndpoint,
    folder: Path,
    files: Mapping[str, bytes],
    *,
    commit: str,
    repo_id: str = REPO_ID,
    revision: str = "main",
    via: Via = "snapshot",
    allow_patterns: Optional[Sequence[str]] = None,
    filenames: Optional[Sequence[str]] = None,
    repo_type: str = "model",
) -> LocalDirDownload:
    """``hf download --local-dir`` with huggingface_hub: real files plus ``.cache/huggingface``."""
    _download(
        endpoint,
        repo_id,
        revision,
        files,
        via,
        allow_patterns,
        filenames,
        repo_type,
        local_dir=folder,
    )
    return LocalDirDownload(folder, commit, files)


def layout(root: Path) -> str:
    """``find``-like listing: one line per entry, links with their targets, modes of files."""
    lines = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            lines.append(f"{name} -> {os.readlink(path)}")
        elif path.is_dir():
            lines.append(f"{name}/")
        else:
            lines.append(
                f"{name} ({path.stat().st_size} bytes, {oct(path.stat().st_mode & 0o777)})"
            )
    return "\n".join(lines)


# ------------------------------------------------------------------ reading the verdicts

_VERDICT = re.compile(r"^(?P<name>.+?): (?P<verdict>OK|FAILED(?: open or read)?|NOT VERIFIED)$")


def cli_verdicts(stdout: str) -> Dict[str, str]:
    """``name: VERDICT`` lines of ``belle-patch verify`` (other lines are ignored)."""
    found = {}
    for line in stdout.splitlines():
        match = _VERDICT.match(line)
        if match:
            found[match["name"]] = match["verdict"]
    return found


def json_strings_and_numbers(value: Any) -> Tuple[List[str], List[float]]:
    """Every string and every number anywhere in a JSON document (keys included)."""
    strings: List[str] = []
    numbers: List[float] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for key, inner in item.items():
                strings.append(str(key))
                walk(inner)
        elif isinstance(item, list):
            for inner in item:
                walk(inner)
        elif isinstance(item, str):
            strings.append(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            numbers.append(item)

    walk(value)
    return strings, numbers


def flip_byte(path: Path) -> None:
    """One byte changed in the middle, the size and (if writable at all) the mode kept."""
    mode = path.stat().st_mode & 0o777
    path.chmod(mode | 0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(mode)


def replace_with_fifo(path: Path) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def belle_patch_command() -> List[str]:
    script = Path(sys.executable).parent / "belle-patch"
    if script.exists():
        return [str(script)]
    found = shutil.which("belle-patch")
    return [found] if found else [sys.executable, "-m", "belle_patch"]


def run_verify_subprocess(*args: PathLike, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``belle-patch verify ARGS`` in a child process: a hang fails the test after ``timeout``."""
    command = [*belle_patch_command(), "verify", *(str(a) for a in args)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def require_huggingface_hub(minversion: str = "2.4") -> None:
    """Skip a module without huggingface_hub (the floors' environment, where it cannot be
    installed beside click 8.2.0), unless BELLE_PATCH_REQUIRE_HUB=1 (CI's newest run) makes
    its absence a failure."""
    try:
        pytest.importorskip("huggingface_hub", minversion=minversion)
    except pytest.skip.Exception as exc:
        if os.environ.get("BELLE_PATCH_REQUIRE_HUB") == "1":
            pytest.fail(f"BELLE_PATCH_REQUIRE_HUB=1 but {exc}", pytrace=False)
        raise
