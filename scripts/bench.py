"""Benchmark belle-patch against md5sum, sha256sum and cp on the same files, side by side.

    python scripts/bench.py [--size MiB] [--runs N] [--json] [--dir DIR]
    python scripts/bench.py --hub-snapshot [--size MiB] [--runs N] [--json] [--dir DIR]

Generates a key and a patch in a temporary folder, then times every command several times
in rotation (so machine noise hits all of them alike) and reports the medians as seconds,
MiB/s, the ratio to md5sum on the restored file, and the peak RSS of each process. Also
times the publishers' method (a pure-Python byte-by-byte XOR with SHA-256 while writing)
on a 64 MiB sample. ``--hub-snapshot`` instead times verify of a Hugging Face cache snapshot
of two files of --size MiB against sha256sum of the same files, one after the other. A
benchmark, not a test: nothing here asserts a timing.
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
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Tuple

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
