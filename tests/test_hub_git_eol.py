"""Line endings in a git clone: compared exactly as git stores the file, in one bounded read."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from belle_patch.hub.address import (
    EOL_AUTO_CONVERSION,
    EOL_CONVERSION,
    ContentAddress,
    algorithms_for,
    check_file_against,
    content_digests,
    git_stored_blob_id,
)
from belle_patch.hub.gitblob import GIT_BLOB, STORED_AS_IS, git_blob_id, stored_blob_name
from belle_patch.hub.gitindex import git_clone_book
from belle_patch.vocabulary import AddressKind, Status
from test_hub_git import check, git, git_env, pointer

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

CONTENTS = {
    "crlf": b"one\r\ntwo\r\nthree\r\n",
    "mixed": b"one\r\ntwo\nthree\r\n",
    "lone cr": b"one\rtwo\r\n",
    "trailing cr": b"one\r\ntwo\r",
    "cr cr lf": b"a\r\r\nb\r\n",
    "nul": b"one\r\n\0two\r\n",
    "controls": b"\x01\x02ab\r\n" * 3,
    "few controls": b"\x01" + b"x" * 300 + b"\r\n",
    "dos eof": b"a" * 127 + b"\r\n\x1a",
    "dos eof and one more": b"a" * 127 + b"\x01\r\n\x1a",
    "del": b"\x7f" + b"b" * 100 + b"\r\n",
    "empty": b"",
    "no cr": b"plain\ntext\n",
}


def _git_stores(repo: Path, env: Dict[str, str], data: bytes, name: str) -> tuple[str, int]:
    """The blob id and size git itself gives ``data`` checked in as ``name``."""
    (repo / "probe").write_bytes(data)
    blob = git(repo, env, "hash-object", "-w", f"--path={name}", "probe").strip()
    return blob, int(git(repo, env, "cat-file", "-s", blob))


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 1 << 20])
def test_the_streamed_conversion_is_what_git_stores(tmp_path: Path, chunk_size: int) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = git_env(tmp_path)
    git(repo, env, "init", "-q")
    (repo / ".gitattributes").write_text("*.txt text\n*.auto text=auto\n")
    for label, data in CONTENTS.items():
        path = tmp_path / "file"
        path.write_bytes(data)
        for name, auto in (("f.txt", False), ("f.auto", True)):
            blob, stored_size = _git_stores(repo, env, data, name)
            algorithm = stored_blob_name(stored_size, auto=auto)
            ours = content_digests(path, [algorithm], chunk_size=chunk_size)[algorithm]
            if auto and ours == STORED_AS_IS:
                # Binary to git: stored as is.
                assert blob == git_blob_id(data), label
            else:
                assert ours == blob, (label, name)
            if not auto:
                assert git_stored_blob_id(path) == blob, label  # size counted first


def test_binary_crlf_is_never_taken_as_converted(tmp_path: Path) -> None:
    """A file with NUL bytes under core.autocrlf: git stores it as is, so its LF-converted
    twin in the commit means git calls it modified, and so must belle-patch: FAILED."""
    folder = tmp_path / "clone"
    folder.mkdir()
    env = git_env(tmp_path)
    git(folder, env, "init", "-q")
    git(folder, env, "config", "core.autocrlf", "true")
    committed = b"head\n\0body\n"
    (folder / "data.dat").write_bytes(committed)
    (folder / "notes.md").write_bytes(b"a\nb\n")
    git(folder, env, "add", ".")
    git(folder, env, "commit", "-q", "-m", "c")
    (folder / "data.dat").write_bytes(committed.replace(b"\n", b"\r\n"))
    os.utime(folder / "data.dat", (1, 1))  # stat differs: git looks at the content
    assert "data.dat" in git(folder, env, "status", "--porcelain")
    book = git_clone_book(folder)
    assert book.addresses["data.dat"].conversion == EOL_AUTO_CONVERSION
    results = check(book)
    assert results["data.dat"].status == Status.FAILED
    assert "binary to git" in results["data.dat"].detail
    assert results["notes.md"].status == Status.OK


def test_crlf_committed_under_the_text_attribute_is_not_ok(tmp_path: Path) -> None:
    """Committed with CRLF before ``text`` was set: git would store it with LF, so git calls
    the (byte-identical) file modified; belle-patch says not verified, never OK or FAILED."""
    folder = tmp_path / "clone"
    folder.mkdir()
    env = git_env(tmp_path)
    git(folder, env, "init", "-q")
    (folder / "old.txt").write_bytes(b"a\r\nb\r\n")
    git(folder, env, "add", ".")
    git(folder, env, "commit", "-q", "-m", "c")
    (folder / ".gitattributes").write_text("*.txt text\n")
    os.utime(folder / "old.txt", (1, 1))
    assert " M old.txt" in git(folder, env, "status", "--porcelain")
    results = check(git_clone_book(folder))
    assert results["old.txt"].status == Status.NOT_VERIFIED
    assert "git calls it modified" in results["old.txt"].detail


def test_eol_attribute_alone_converts_and_a_change_fails(tmp_path: Path) -> None:
    folder = tmp_path / "clone"
    folder.mkdir()
    env = git_env(tmp_path)
    git(folder, env, "init", "-q")
    (folder / ".gitattributes").write_text("*.cfg eol=crlf\n*.raw -text\n")
    (folder / "a.cfg").write_bytes(b"x=1\ny=2\n")
    (folder / "b.raw").write_bytes(b"x=1\ny=2\n")
    git(folder, env, "add", ".")
    git(folder, env, "commit", "-q", "-m", "c")
    assert (folder / "a.cfg").read_bytes() == b"x=1\ny=2\n"
    for name in ("a.cfg", "b.raw"):
        (folder / name).unlink()
    git(folder, env, "checkout", "--", ".")
    assert (folder / "a.cfg").read_bytes() == b"x=1\r\ny=2\r\n"
    book = git_clone_book(folder)
    assert book.addresses["a.cfg"].conversion == EOL_CONVERSION
    assert book.addresses["b.raw"].conversion is None
    assert check(book)["a.cfg"].status == Status.OK
    (folder / "a.cfg").write_bytes(b"x=1\r\ny=3\r\n")
    (folder / "b.raw").write_bytes(b"x=1\r\ny=2\r\n")  # -text: git sees CRLF as a change
    results = check(git_clone_book(folder))
    assert results["a.cfg"].status == Status.FAILED
    assert results["b.raw"].status == Status.FAILED


def test_pointer_shaped_text_without_filter_lfs_is_checked_as_git_sees_it(
    tmp_path: Path,
) -> None:
    weights = b"w" * 5000
    folder = tmp_path / "clone"
    folder.mkdir()
    env = git_env(tmp_path)
    git(folder, env, "init", "-q")
    (folder / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    (folder / "model.bin").write_bytes(pointer(weights))
    (folder / "example.txt").write_bytes(pointer(weights))  # documentation, not LFS
    git(folder, env, "add", ".")
    git(folder, env, "commit", "-q", "-m", "c")
    (folder / "model.bin").write_bytes(weights)
    book = git_clone_book(folder)
    assert book.addresses["model.bin"].kind == AddressKind.SHA256_LFS
    assert book.addresses["example.txt"].kind == AddressKind.GIT_BLOB_ID
    assert book.addresses["example.txt"].hexdigest == git_blob_id(pointer(weights))
    results = check(book)
    assert results["model.bin"].status == Status.OK
    assert results["example.txt"].status == Status.OK  # git itself calls it unchanged
    (folder / "example.txt").write_bytes(weights)  # the "content" of a non-LFS file: wrong
    assert check(git_clone_book(folder))["example.txt"].status == Status.FAILED


def test_the_stored_blob_digest_comes_from_the_same_read(tmp_path: Path) -> None:
    committed = b"line\n" * 1000
    path = tmp_path / "f.txt"
    path.write_bytes(committed.replace(b"\n", b"\r\n"))
    address = ContentAddress(
        AddressKind.GIT_BLOB_ID,
        git_blob_id(committed),
        len(committed),
        "git commit",
        conversion=EOL_CONVERSION,
    )
    wanted = algorithms_for(address)
    assert wanted == (GIT_BLOB, stored_blob_name(len(committed), auto=False))
    digests = content_digests(path, wanted)
    path.unlink()  # no second read: the verdict needs only the digests
    assert check_file_against(address, digests, path=path).status == Status.OK
    shorter = ContentAddress(
        AddressKind.GIT_BLOB_ID,
        git_blob_id(committed),
        len(committed) - 1,
        "c",
        conversion=EOL_CONVERSION,
    )
    verdict = check_file_against(shorter, content_digests_of(committed, tmp_path, shorter))
    assert verdict.status == Status.FAILED
    assert f"{len(committed)} bytes where the commit has {len(committed) - 1}" in verdict.detail


def content_digests_of(committed: bytes, tmp_path: Path, address: ContentAddress) -> Dict[str, str]:
    path = tmp_path / "g.txt"
    path.write_bytes(committed.replace(b"\n", b"\r\n"))
    return content_digests(path, algorithms_for(address))


MEMORY_PROBE = """
import sys
from pathlib import Path
from belle_patch.hub.address import EOL_AUTO_CONVERSION, ContentAddress
from belle_patch.vocabulary import AddressKind
from belle_patch.hub.address import algorithms_for, check_file_against, content_digests
path = Path(sys.argv[1])
address = ContentAddress(AddressKind.GIT_BLOB_ID, sys.argv[2], int(sys.argv[3]), "t",
                         conversion=EOL_AUTO_CONVERSION)
verdict = check_file_against(address, content_digests(path, algorithms_for(address)), path=path)
# VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
peak = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(verdict.status, peak)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_a_large_crlf_file_is_checked_in_bounded_memory(tmp_path: Path) -> None:
    line = b"0123456789abcdef" * 7 + b"\r\n"
    count = (256 << 20) // len(line)
    path = tmp_path / "big.txt"
    with path.open("wb") as out:
        for _ in range(count // 4096):
            out.write(line * 4096)
    rows = (count // 4096) * 4096
    stored = rows * (len(line) - 1)
    sha1 = hashlib.sha1(b"blob %d\0" % stored)
    block = (line * 4096).replace(b"\r\n", b"\n")
    for _ in range(rows // 4096):
        sha1.update(block)
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), sha1.hexdigest(), str(stored)],
        capture_output=True,
        text=True,
        check=True,
    )
    status, peak_kib = done.stdout.split()
    assert status == Status.OK
    # Reading the file whole (as before) peaks over twice its 256 MiB.
    print(f"peak {int(peak_kib) >> 10} MiB")
    assert int(peak_kib) < 200 * 1024, peak_kib
