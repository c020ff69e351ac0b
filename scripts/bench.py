"""Benchmark belle-patch against md5sum, sha256sum and cp on the same files, side by side.

    python scripts/bench.py [--size MiB] [--runs N] [--json] [--dir DIR]
    python scripts/bench.py --hub-snapshot [--size MiB] [--runs N] [--json] [--dir DIR]
    python scripts/bench.py --hub-cache [--size MiB] [--files N] [--runs N] [--json] [--dir DIR]

Generates a key and a patch in a temporary folder, then times every command several times
in rotation (so machine noise hits all of them alike) and reports the medians as seconds,
MiB/s, the ratio to md5sum on the restored file, and the peak RSS of each process. Also
times the publishers' method (a pure-Python byte-by-byte XOR with SHA-256 while writing)
on a 64 MiB sample. ``--hub-snapshot`` instead times verify of a Hugging Face cache snapshot
of two files of --size MiB against sha256sum of the same files, one after the other.
``--hub-cache`` times verify of a whole cache (three repos, two revisions each sharing most
blobs, one blob shared by all repos through the shared blob store; --size MiB of weights in
all, or --files N small files in the snapshots) against one sha256sum of its distinct blobs.
A benchmark, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Sequence, Tuple

import numpy as np

MiB = 1024 * 1024
CHUNK = 10 * MiB
PURE_PYTHON_SAMPLE = 64 * MiB


def write_random(path: Path, size: int, seed: int) -> None:
    generator = np.random.default_rng(seed)
    with path.open("wb") as out:
        left = size
        while left:
            step = min(left, 64 * MiB)
            out.write(generator.integers(0, 256, step, dtype=np.uint8).tobytes())
            left -= step


TIME = "/usr/bin/time"


def run_measured(command: List[str]) -> Tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process.

    The RSS comes from /usr/bin/time when it exists: a child forked from this (large)
    process would report this process's memory as its own peak on Linux.
    """
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = [TIME, "-f", "%M", "-o", rss_file.name, *command]
        use_time = os.access(TIME, os.X_OK)
        started = time.perf_counter()
        process = subprocess.Popen(
            wrapped if use_time else command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            error = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"{' '.join(command)} failed ({code}): {error}")
        peak = int(rss_file.read().split()[-1]) if use_time else usage.ru_maxrss
    return elapsed, peak


def rotation(labels: Iterable[str], runs: int) -> Iterator[str]:
    """Every label once per round, in an order shuffled each round (seeded: repeatable).

    A fixed order would give each command the same neighbour every round, and a command
    run after one that wrote a large file pays for that file's pages on this kind of
    machine: shuffling spreads that cost over every row.
    """
    names = list(labels)
    for round_number in range(runs):
        yield from random.Random(round_number).sample(names, k=len(names))


def warm_file(path: Path) -> None:
    """Read a file into the page cache (the timed command then reads it from memory)."""
    buffer = bytearray(CHUNK)
    with path.open("rb", buffering=0) as source:
        while source.readinto(buffer):
            pass


def warm_output(path: Path, make: List[str]) -> Callable[[], None]:
    """A setup that makes ``path`` with ``make`` when it is missing, then reads it into the
    page cache: decrypt leaves little of what it wrote there, and md5sum and verify are timed
    on a cached file, as decrypt is on cached inputs."""

    def setup() -> None:
        if not path.exists():
            run_measured(make)
        warm_file(path)

    return setup


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def publishers_method_rate(sample: Path, key: Path, out: Path) -> float:
    """MiB/s of a byte-by-byte XOR per 10 MiB chunk with SHA-256 while writing."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    with sample.open("rb") as data, key.open("rb") as key_file, out.open("wb") as target:
        while True:
            chunk = data.read(CHUNK)
            if not chunk:
                break
            key_chunk = key_file.read(len(chunk))
            mixed = bytes(a ^ b for a, b in zip(chunk, key_chunk, strict=False))
            digest.update(mixed)
            target.write(mixed)
    return sample.stat().st_size / MiB / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="patch data size in MiB")
    parser.add_argument("--runs", type=int, default=5, help="runs per command (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--skip-pure-python", action="store_true")
    parser.add_argument(
        "--verify-folder",
        action="store_true",
        help="instead: verify a folder of four 256 MiB files (MD5 in parallel, then xxh3)",
    )
    parser.add_argument(
        "--hub-snapshot",
        action="store_true",
        help="instead: verify a cache snapshot of two --size MiB files against sha256sum",
    )
    parser.add_argument(
        "--hub-cache",
        action="store_true",
        help="instead: verify a whole cache (3 repos, 2 revisions each) against sha256sum of "
        "its distinct blobs",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=0,
        help="with --hub-cache: N small files (0.5-2 KiB; N/2 distinct blobs, each in two "
        "revisions) instead of --size MiB of weights",
    )
    parser.add_argument(
        "--families",
        action="store_true",
        help="instead: decrypt an OpenBuddy file and an Open-Assistant payload with MD5 lists",
    )
    args = parser.parse_args()
    if args.families:
        families_bench(args.size, args.runs, args.json, args.dir)
        return
    if args.verify_folder:
        verify_folder_bench(args.runs, args.json, args.dir)
        return
    if args.hub_snapshot:
        hub_snapshot_bench(args.size, args.runs, args.json, args.dir)
        return
    if args.hub_cache:
        hub_cache_bench(args.size, args.files, args.runs, args.json, args.dir)
        return

    exe, *exe_args = belle_patch_command()
    with tempfile.TemporaryDirectory(prefix="belle-patch-bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        size = args.size * MiB
        key = root / "consolidated.00.pth"
        plain_dir = root / "model"
        plain_dir.mkdir()
        plain = plain_dir / "pytorch_model.bin"
        write_random(key, size + 3 * MiB + 12345, seed=1)
        write_random(plain, size, seed=2)
        enc_dir = root / "enc"
        run_measured(
            [exe, *exe_args, "encrypt", str(plain), "--key", str(key), "--out", str(enc_dir), "-q"]
        )
        (patch,) = list(enc_dir.glob("*.enc"))
        restored_dir = root / "restored"
        restored = restored_dir / plain.name
        run_measured(
            [exe, *exe_args, "decrypt", str(patch), "-k", str(key), "-o", str(restored_dir), "-q"]
        )
        md5_list = root / "md5sums.txt"
        md5_list.write_text(f"{md5_of(restored)}  {plain.name}\n")
        copy_target = root / "copy.enc"
        encrypt_out = root / "enc2"

        def fresh_restore() -> None:
            # Inputs in the page cache, as md5sum's file is: encrypt left little of the patch.
            shutil.rmtree(restored_dir, ignore_errors=True)
            warm_file(patch)
            warm_file(key)

        def warm_patch() -> None:
            warm_file(patch)

        def fresh_encrypt() -> None:
            shutil.rmtree(encrypt_out, ignore_errors=True)
            warm_file(plain)
            warm_file(key)

        decrypt_cmd = [
            exe,
            *exe_args,
            "decrypt",
            str(patch),
            "-k",
            str(key),
            "-o",
            str(restored_dir),
            "-q",
        ]

        warm_restored = warm_output(restored, decrypt_cmd)

        commands: Dict[str, Tuple[List[str], Callable[[], None]]] = {
            "md5sum (restored file)": (["md5sum", str(restored)], warm_restored),
            "belle-patch decrypt (SHA-256 + MD5)": (decrypt_cmd, fresh_restore),
            "belle-patch decrypt --no-md5": ([*decrypt_cmd, "--no-md5"], fresh_restore),
            "sha256sum (restored file)": (["sha256sum", str(restored)], warm_restored),
            "cp (.enc)": (["cp", str(patch), str(copy_target)], warm_patch),
            "belle-patch encrypt (+ both MD5 lists)": (
                [
                    exe,
                    *exe_args,
                    "encrypt",
                    str(plain),
                    "-k",
                    str(key),
                    "-o",
                    str(encrypt_out),
                    "-q",
                ],
                fresh_encrypt,
            ),
            "belle-patch encrypt --no-lists": (
                [
                    exe,
                    *exe_args,
                    "encrypt",
                    str(plain),
                    "-k",
                    str(key),
                    "-o",
                    str(encrypt_out),
                    "-q",
                    "--no-lists",
                ],
                fresh_encrypt,
            ),
            "belle-patch verify (MD5 list)": (
                [exe, *exe_args, "verify", str(restored_dir), "-m", str(md5_list), "--status"],
                warm_restored,
            ),
        }
        times: Dict[str, List[float]] = {name: [] for name in commands}
        peaks: Dict[str, int] = {name: 0 for name in commands}
        for name in rotation(commands, args.runs):
            command, setup = commands[name]
            setup()
            elapsed, peak = run_measured(command)
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)
        pure_rate = None
        if not args.skip_pure_python:
            sample = root / "sample.bin"
            write_random(sample, PURE_PYTHON_SAMPLE, seed=3)
            pure_rate = statistics.median(
                publishers_method_rate(sample, key, root / "sample.out")
                for _ in range(min(args.runs, 3))
            )

    md5_times = times["md5sum (restored file)"]
    baseline = statistics.median(md5_times)
    rows = []
    for name in commands:
        median = statistics.median(times[name])
        # Shared machines lose a core at times, which slows a two-thread job more than
        # md5sum: each side's best run, and the median of run-by-run ratios, say more.
        paired = statistics.median(t / m for t, m in zip(times[name], md5_times, strict=True))
        rows.append(
            {
                "command": name,
                "median_s": round(median, 3),
                "best_s": round(min(times[name]), 3),
                "mib_per_s": round(args.size / median, 1),
                "ratio_to_md5sum": round(median / baseline, 2),
                "best_ratio_to_md5sum": round(min(times[name]) / min(md5_times), 2),
                "paired_median_ratio": round(paired, 2),
                "peak_rss_mib": round(peaks[name] / 1024, 1),
                "runs": [round(t, 3) for t in times[name]],
            }
        )
    decrypt_rate = args.size / statistics.median(times["belle-patch decrypt (SHA-256 + MD5)"])
    report = {
        "size_mib": args.size,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "rows": rows,
        "publishers_method_mib_per_s": round(pure_rate, 1) if pure_rate else None,
        "speedup_vs_publishers_method": round(decrypt_rate / pure_rate, 1) if pure_rate else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.size} MiB, median of {args.runs} runs, {os.cpu_count()} cores\n")
    print(
        "| command | median s | best s | MiB/s | x md5sum (medians) | x md5sum (bests) "
        "| x md5sum (paired median) | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['command']} | {row['median_s']:.3f} | {row['best_s']:.3f} | "
            f"{row['mib_per_s']:.0f} | {row['ratio_to_md5sum']:.2f} | "
            f"{row['best_ratio_to_md5sum']:.2f} | {row['paired_median_ratio']:.2f} | "
            f"{row['peak_rss_mib']:.0f} |"
        )
    if pure_rate:
        print(
            f"\npublishers' method (pure-Python byte XOR + SHA-256, 64 MiB sample, median): "
            f"{pure_rate:.1f} MiB/s; belle-patch decrypt is {decrypt_rate / pure_rate:.0f}x faster"
        )


def verify_folder_bench(runs: int, as_json: bool, work_dir: object) -> None:
    """belle-patch verify of four 256 MiB restored files against sequential md5sum."""
    exe = shutil.which("belle-patch") or str(Path(sys.executable).with_name("belle-patch"))
    with tempfile.TemporaryDirectory(prefix="belle-patch-bench-", dir=work_dir) as tmp:  # type: ignore[call-overload]
        root = Path(tmp)
        model = root / "model"
        model.mkdir()
        names = [f"pytorch_model-0000{i}-of-00004.bin" for i in range(1, 5)]
        for seed, name in enumerate(names):
            write_random(model / name, 256 * MiB, seed=10 + seed)
        key = root / "consolidated.00.pth"
        write_random(key, 300 * MiB, seed=9)
        run_measured([exe, "encrypt", str(model), "-k", str(key), "-o", str(root / "enc"), "-q"])
        restored = root / "restored"
        run_measured([exe, "decrypt", str(root / "enc"), "-k", str(key), "-o", str(restored), "-q"])
        for name in names:  # decrypt leaves little of what it wrote in the page cache
            warm_file(restored / name)
        sums = root / "enc" / "md5sums.txt"
        commands = {
            "md5sum, 4 files one after another": (["md5sum", *[str(restored / n) for n in names]]),
            "belle-patch verify --full (MD5, files in parallel)": (
                [exe, "verify", str(restored), "-m", str(sums), "--status", "--full"]
            ),
            "belle-patch verify (xxh3 of files it restored)": (
                [exe, "verify", str(restored), "-m", str(sums), "--status"]
            ),
        }
        times: Dict[str, List[float]] = {name: [] for name in commands}
        for name in rotation(commands, runs):
            times[name].append(run_measured(commands[name])[0])
    baseline = statistics.median(times["md5sum, 4 files one after another"])
    rows = [
        {
            "command": name,
            "median_s": round(statistics.median(t), 3),
            "mib_per_s": round(1024 / statistics.median(t), 1),
            "ratio_to_md5sum": round(statistics.median(t) / baseline, 2),
        }
        for name, t in times.items()
    ]
    if as_json:
        print(json.dumps({"files": 4, "file_mib": 256, "runs": runs, "rows": rows}, indent=2))
        return
    print(f"verify of 4 x 256 MiB, median of {runs} runs, {os.cpu_count()} cores\n")
    print("| command | median s | MiB/s | x md5sum |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['command']} | {row['median_s']:.3f} | {row['mib_per_s']:.0f} | "
            f"{row['ratio_to_md5sum']:.2f} |"
        )


def belle_patch_command() -> List[str]:
    """The installed script, else this Python running the package (a source checkout)."""
    exe = shutil.which("belle-patch") or str(Path(sys.executable).with_name("belle-patch"))
    return [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "belle_patch"]


def hub_snapshot_bench(size_mib: int, runs: int, as_json: bool, work_dir: object) -> None:
    """belle-patch verify of a cache snapshot (two LFS files) against sequential sha256sum."""
    belle_patch = belle_patch_command()
    commit = "0123456789abcdef0123456789abcdef01234567"
    with tempfile.TemporaryDirectory(prefix="belle-patch-bench-", dir=work_dir) as tmp:  # type: ignore[call-overload]
        repo = Path(tmp) / "models--BelleGroup--BELLE-7B-1M"
        blobs = repo / "blobs"
        snapshot = repo / "snapshots" / commit
        blobs.mkdir(parents=True)
        snapshot.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
        blob_paths = []
        for index in (1, 2):
            staging = blobs / "incoming"
            write_random(staging, size_mib * MiB, seed=20 + index)
            digest = hashlib.sha256()
            with staging.open("rb") as source:
                for block in iter(lambda: source.read(CHUNK), b""):
                    digest.update(block)
            blob = blobs / digest.hexdigest()
            staging.rename(blob)
            blob_paths.append(str(blob))
            name = f"pytorch_model-0000{index}-of-00002.bin"
            (snapshot / name).symlink_to(f"../../blobs/{blob.name}")
        verify = [*belle_patch, "verify", str(snapshot), "--status"]
        baseline_name = "sha256sum, 2 files one after another"
        commands = {
            baseline_name: ["sha256sum", *blob_paths],
            "belle-patch verify SNAPSHOT --jobs 1": [*verify, "--jobs", "1"],
            "belle-patch verify SNAPSHOT (default jobs)": verify,
        }
        times: Dict[str, List[float]] = {name: [] for name in commands}
        for name in rotation(commands, runs):
            times[name].append(run_measured(commands[name])[0])
    baseline = statistics.median(times[baseline_name])
    total_mib = 2 * size_mib
    rows = [
        {
            "command": name,
            "median_s": round(statistics.median(t), 3),
            "mib_per_s": round(total_mib / statistics.median(t), 1),
            "ratio_to_sha256sum": round(statistics.median(t) / baseline, 2),
            "runs": [round(x, 3) for x in t],
        }
        for name, t in times.items()
    ]
    if as_json:
        document = {"files": 2, "file_mib": size_mib, "runs": runs, "cpus": os.cpu_count()}
        print(json.dumps({**document, "rows": rows}, indent=2))
        return
    print(f"verify of a cache snapshot of 2 x {size_mib} MiB, median of {runs} runs, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print("| command | median s | MiB/s | x sha256sum |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['command']} | {row['median_s']:.3f} | {row['mib_per_s']:.0f} | "
            f"{row['ratio_to_sha256sum']:.2f} |"
        )


@dataclass
class _BenchRepo:
    """A cache repo folder being written: its blobs and one snapshot folder per commit."""

    folder: Path
    commits: List[str]

    def blob(self, name: str, data: bytes) -> Path:
        blob = self.folder / "blobs" / name
        if not blob.exists():
            blob.write_bytes(data)
        return blob

    def link(self, commit: str, path: str, blob_name: str) -> None:
        link = self.folder / "snapshots" / commit / path
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = path.count("/")
        link.symlink_to("../" * (depth + 2) + f"blobs/{blob_name}")


def _bench_repo(cache: Path, index: int, revisions: int) -> _BenchRepo:
    folder = cache / f"models--Bench--repo-{index}"
    commits = [
        hashlib.sha1(f"repo {index} commit {r}".encode()).hexdigest() for r in range(revisions)
    ]
    (folder / "blobs").mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commits[-1])
    for commit in commits:
        (folder / "snapshots" / commit).mkdir(parents=True)
    return _BenchRepo(folder, commits)


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _write_large_blob(repo: _BenchRepo, size: int, seed: int) -> Tuple[str, Path]:
    """A random LFS blob named by its SHA-256, written once to the repo's blobs/."""
    staging = repo.folder / "blobs" / "incoming"
    write_random(staging, size, seed=seed)
    digest = hashlib.sha256()
    with staging.open("rb") as source:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
    blob = staging.with_name(digest.hexdigest())
    staging.rename(blob)
    return blob.name, blob


def _share(cache: Path, repos: Sequence[_BenchRepo], blob_name: str, xet_hash: str) -> Path:
    """Move a blob of the first repo into the shared store and link every repo's blob to it,
    as huggingface_hub lays the store out (marker, ``XX/XXHASH``, relative links)."""
    store = cache / "blobs"
    (store / xet_hash[:2]).mkdir(parents=True, exist_ok=True)
    (store / ".huggingface-shared-blobs").write_text("1\n")
    entry = store / xet_hash[:2] / xet_hash
    (repos[0].folder / "blobs" / blob_name).rename(entry)
    for repo in repos:
        blob = repo.folder / "blobs" / blob_name
        if blob.exists() or blob.is_symlink():
            blob.unlink()
        blob.symlink_to(f"../../blobs/{xet_hash[:2]}/{xet_hash}")
    return entry


def build_bench_cache(cache: Path, size_mib: int, files: int) -> List[Path]:
    """Three repos of two revisions each; returns the distinct blobs (the files sha256sum
    reads). With ``files``, that many small git files spread over the repos' snapshots (both
    revisions of a repo link the same blobs: ``files / 2`` distinct blobs); otherwise
    two weights per repo of ``size_mib / 6`` MiB each (both revisions link the same blobs,
    the second revision adds a config), the first shared by all repos through the store."""
    repos = [_bench_repo(cache, index, 2) for index in range(3)]
    distinct: List[Path] = []
    if files:
        generator = random.Random(5)
        for number in range((files + 1) // 2):  # each blob is a file of both revisions
            repo = repos[number % len(repos)]
            data = generator.randbytes(generator.randint(512, 2048))
            name = _git_blob_id(data)
            distinct.append(repo.blob(name, data))
            path = f"data/{number // 1000:03d}/file-{number:06d}.txt"
            for commit in repo.commits:
                repo.link(commit, path, name)
        return distinct
    each = max(1, size_mib * MiB // 6)
    shared_name, _ = _write_large_blob(repos[0], each, seed=40)
    for repo in repos:
        for index, commit in enumerate(repo.commits):
            config = f'{{"repo": "{repo.folder.name}", "revision": {index}}}\n'.encode()
            repo.link(commit, "config.json", _git_blob_id(config))
            distinct.append(repo.blob(_git_blob_id(config), config))
    for number, repo in enumerate(repos):
        name, blob = _write_large_blob(repo, each, seed=41 + number)
        distinct.append(blob)
        for commit in repo.commits:
            repo.link(commit, "model-00001-of-00002.safetensors", shared_name)
            repo.link(commit, "model-00002-of-00002.safetensors", name)
    xet_hash = hashlib.sha256(b"xet" + shared_name.encode()).hexdigest()
    distinct.append(_share(cache, repos, shared_name, xet_hash))
    return distinct


def hub_cache_bench(size_mib: int, files: int, runs: int, as_json: bool, work_dir: object) -> None:
    """belle-patch verify of a whole cache against one sha256sum of its distinct blobs."""
    belle_patch = belle_patch_command()
    with tempfile.TemporaryDirectory(prefix="belle-patch-bench-", dir=work_dir) as tmp:  # type: ignore[call-overload]
        cache = Path(tmp) / "hub"
        distinct = build_bench_cache(cache, size_mib, files)
        listed = Path(tmp) / "blobs.list"
        listed.write_bytes(b"".join(os.fsencode(path) + b"\0" for path in distinct))
        total = sum(path.stat().st_size for path in distinct)
        verify = [*belle_patch, "verify", str(cache), "--status"]
        baseline_name = f"sha256sum of the {len(distinct)} distinct blobs"
        commands = {
            # xargs: a hundred thousand names do not fit one command line.
            baseline_name: ["xargs", "-0", "-a", str(listed), "sha256sum"],
            "belle-patch verify CACHE --jobs 1": [*verify, "--jobs", "1"],
            "belle-patch verify CACHE (default jobs)": verify,
        }

        def warm() -> None:
            for path in distinct:
                warm_file(path)

        times: Dict[str, List[float]] = {name: [] for name in commands}
        peaks: Dict[str, int] = {name: 0 for name in commands}
        for name in rotation(commands, runs):
            warm()
            elapsed, peak = run_measured(commands[name])
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)
    base = times[baseline_name]
    rows = [
        {
            "command": name,
            "median_s": round(statistics.median(t), 3),
            "best_s": round(min(t), 3),
            "mib_per_s": round(total / MiB / statistics.median(t), 1),
            "ratio_to_sha256sum": round(statistics.median(t) / statistics.median(base), 2),
            "best_ratio_to_sha256sum": round(min(t) / min(base), 2),
            "paired_median_ratio": round(
                statistics.median(x / b for x, b in zip(t, base, strict=True)), 2
            ),
            "peak_rss_mib": round(peaks[name] / 1024, 1),
            "runs": [round(x, 3) for x in t],
        }
        for name, t in times.items()
    ]
    what = f"{files} small files" if files else f"{total / MiB:.0f} MiB of distinct blobs"
    if as_json:
        document = {
            "repos": 3,
            "revisions_per_repo": 2,
            "files": files,
            "distinct_blobs": len(distinct),
            "distinct_bytes": total,
            "runs": runs,
            "cpus": os.cpu_count(),
        }
        print(json.dumps({**document, "rows": rows}, indent=2))
        return
    print(f"verify of a whole cache (3 repos x 2 revisions, {what}), {runs} runs, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print(
        "| command | median s | best s | MiB/s | x sha256sum (medians) | x sha256sum (bests) "
        "| x sha256sum (paired median) | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['command']} | {row['median_s']:.3f} | {row['best_s']:.3f} | "
            f"{row['mib_per_s']:.0f} | {row['ratio_to_sha256sum']:.2f} | "
            f"{row['best_ratio_to_sha256sum']:.2f} | {row['paired_median_ratio']:.2f} | "
            f"{row['peak_rss_mib']:.0f} |"
        )


def families_bench(size_mib: int, runs: int, as_json: bool, work_dir: object) -> None:
    """Decrypt of an OpenBuddy file and of an Open-Assistant payload against md5sum."""
    exe = shutil.which("belle-patch")
    cli = [exe] if exe else [sys.executable, "-m", "belle_patch"]
    with tempfile.TemporaryDirectory(prefix="belle-patch-bench-", dir=work_dir) as tmp:  # type: ignore[call-overload]
        root = Path(tmp)
        size = size_mib * MiB
        # A type without a structure check: random bytes pass with "not verified" when no
        # MD5 of the output is listed (the base-only row).
        name = "model-00001-of-00002.data"
        plain = root / "model" / name
        plain.parent.mkdir()
        write_random(plain, size, seed=2)
        plain_md5 = md5_of(plain)
        key = root / "consolidated.00.pth"
        write_random(key, 16 * MiB + 4096, seed=1)
        base = root / "llama_hf" / name
        base.parent.mkdir()
        write_random(base, size, seed=4)
        ob_enc, oa_xor = root / "ob-enc", root / "oa-xor"
        ob = ["--format", "openbuddy", "-k", str(key)]
        run_measured([*cli, "encrypt", str(plain), *ob, "-o", str(ob_enc), "-q"])
        run_measured([*cli, "encrypt", str(plain), "--base", str(base.parent), "-o", str(oa_xor)])
        md5_list = root / "md5sums.txt"
        md5_list.write_text(f"{plain_md5}  {name}\n")
        manifest = root / "oasst-manifest.json"
        document = {
            "format": "oasst",
            "files": [{"name": name, "md5": plain_md5}],
            "base_files": [{"name": name, "md5": md5_of(base)}],
        }
        manifest.write_text(json.dumps(document))
        base_only = root / "oasst-base-only.json"  # the base is then hashed while restoring
        base_only.write_text(json.dumps({**document, "files": [{"name": name}]}))
        out = root / "restored"
        restored = out / name

        def fresh() -> None:
            shutil.rmtree(out, ignore_errors=True)

        def warm(*paths: Path) -> Callable[[], None]:
            # Every command starts with its inputs in the page cache, as md5sum does with
            # the file the previous decrypt wrote: the rows then compare work, not disk.
            def setup() -> None:
                fresh()
                for path in paths:
                    warm_file(path)

            return setup

        ob_in = warm(ob_enc / f"{name}.enc", key)
        oa_in = warm(oa_xor / name, base)
        ob_cmd = [*cli, "decrypt", str(ob_enc / f"{name}.enc"), *ob, "-o", str(out), "-q"]
        ob_cmd += ["-m", str(md5_list)]  # random bytes have no structure: the list verifies
        oa_cmd = [*cli, "decrypt", str(oa_xor / name), "--base", str(base.parent), "-o", str(out)]

        warm_restored = warm_output(restored, ob_cmd)

        commands: Dict[str, Tuple[List[str], Callable[[], None]]] = {
            "md5sum (restored file)": (["md5sum", str(restored)], warm_restored),
            "decrypt openbuddy (MD5 list)": (ob_cmd, ob_in),
            "decrypt oasst (MD5 + base MD5 lists)": ([*oa_cmd, "-q", "-m", str(manifest)], oa_in),
            "decrypt oasst (MD5 list only)": ([*oa_cmd, "-q", "-m", str(md5_list)], oa_in),
            "decrypt oasst (base MD5s only)": ([*oa_cmd, "-q", "-m", str(base_only)], oa_in),
        }
        times: Dict[str, List[float]] = {label: [] for label in commands}
        peaks: Dict[str, int] = {label: 0 for label in commands}
        for label in rotation(commands, runs):
            command, setup = commands[label]
            setup()
            elapsed, peak = run_measured(command)
            times[label].append(elapsed)
            peaks[label] = max(peaks[label], peak)
            if not label.startswith("md5sum") and md5_of(restored) != plain_md5:
                raise SystemExit(f"{label}: the restored file differs")
    md5_times = times["md5sum (restored file)"]
    baseline = statistics.median(md5_times)
    rows = [
        {
            "command": label,
            "median_s": round(statistics.median(times[label]), 3),
            "best_s": round(min(times[label]), 3),
            "ratio_to_md5sum": round(statistics.median(times[label]) / baseline, 2),
            "best_ratio_to_md5sum": round(min(times[label]) / min(md5_times), 2),
            "paired_median_ratio": round(
                statistics.median(t / m for t, m in zip(times[label], md5_times, strict=True)), 2
            ),
            "peak_rss_mib": round(peaks[label] / 1024, 1),
        }
        for label in commands
    ]
    if as_json:
        print(json.dumps({"size_mib": size_mib, "runs": runs, "rows": rows}, indent=2))
        return
    print(f"{size_mib} MiB, median of {runs} runs, {os.cpu_count()} cores\n")
    print(
        "| command | median s | best s | x md5sum (medians) | x md5sum (bests) "
        "| x md5sum (paired median) | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['command']} | {row['median_s']:.3f} | {row['best_s']:.3f} | "
            f"{row['ratio_to_md5sum']:.2f} | {row['best_ratio_to_md5sum']:.2f} | "
            f"{row['paired_median_ratio']:.2f} | {row['peak_rss_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
