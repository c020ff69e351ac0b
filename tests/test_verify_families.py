"""verify for the OpenBuddy and Open-Assistant families: telling the release from the files,
checking restored files, downloads and the converted LLaMA base folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import pytest

import belle_patch
from belle_patch.check import detection
from belle_patch.expect import releases as registry
from belle_patch.expect.releases import Release, release_from_json
from hub_endpoint import LocalDirDownload, require_huggingface_hub

from conftest import generated
from formats_data import (
    md5,
    oasst_reference,
    openbuddy_reference,
    plain_bytes,
    torch_like,
    write,
)
from helpers import run

ENVIRONMENT = "transformers 0000000 (test), torch 1.13.1"
NAME = "Test/oasst-test-xor"
BASE_DIFFERS = "this base file differs from the conversion the release was made against"
RESTORED = {
    "config.json": 600,
    "generation_config.json": 300,
    "pytorch_model-00001-of-00001.bin": 5000,
    "tokenizer.model": 1500,
}
ADDED_TOKENS = b'{"<pad>": 32000}'


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _oasst_files(tmp_path: Path) -> Dict[str, Dict[str, bytes]]:
    plain = {n: plain_bytes(f"restored {n}", size, n) for n, size in RESTORED.items()}
    bases = {n: generated(f"base {n}", size + 100) for n, size in RESTORED.items()}
    payload = {n: oasst_reference(plain[n], bases[n]) for n in plain}
    plain["added_tokens.json"] = payload["added_tokens.json"] = ADDED_TOKENS
    return {"plain": plain, "bases": bases, "payload": payload}


def _oasst_document(files: Dict[str, Dict[str, bytes]], *, download_sums: bool) -> Dict[str, Any]:
    return {
        "schema": "belle-patch-release/1",
        "id": "oasst-test-xor",
        "name": NAME,
        "format": "oasst",
        "environment": ENVIRONMENT,
        "payload_folder": "oasst-test-xor",
        "files": [
            {
                "name": n,
                "enc_name": n,
                "md5": md5(data),
                "enc_sha256": sha256(files["payload"][n])
                if download_sums and n.endswith(".bin")
                else None,
            }
            for n, data in files["plain"].items()
        ],
        "base_files": [{"name": n, "md5": md5(d)} for n, d in files["bases"].items()],
    }


def _bundle(monkeypatch: pytest.MonkeyPatch, *extra: Release) -> None:
    """The synthetic releases join the bundled ones, as if shipped in manifests/families."""
    known = registry.bundled_releases() + extra
    monkeypatch.setattr(registry, "bundled_releases", lambda: known)
    monkeypatch.setattr(detection, "bundled_releases", lambda: known)


def _folder(path: Path, files: Dict[str, bytes]) -> Path:
    for name, data in files.items():
        write(path / name, data)
    return path


@pytest.fixture
def oasst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, Any]]:
    files = _oasst_files(tmp_path)
    document = _oasst_document(files, download_sums=True)
    _bundle(monkeypatch, release_from_json(document, source="test"))
    yield {
        **files,
        "document": document,
        "restored": _folder(tmp_path / "restored", files["plain"]),
        "base": _folder(tmp_path / "llama-30b-hf", files["bases"]),
        "payload": _folder(tmp_path / "payload", files["payload"]),
    }


def _lines(text: str) -> list[str]:
    return sorted(text.splitlines())


# ------------------------------------------------------------------ 1. release detection


def test_restored_family_folder_is_told_without_release(oasst: Dict[str, Any]) -> None:
    result = run("verify", oasst["restored"])
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout) == sorted(f"{n}: OK" for n in oasst["plain"])
    assert result.stderr == f"belle-patch: checking against {NAME}\n"


def test_names_that_match_with_other_content_are_never_judged_by_that_release(
    oasst: Dict[str, Any],
) -> None:
    folder: Path = oasst["restored"]
    # The smallest file the release tells by (added_tokens.json is shipped in clear, so not it).
    (folder / "generation_config.json").write_bytes(b'{"other": "model"}')
    result = run("verify", folder)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "cannot tell which release these files belong to" in result.stderr
    assert NAME not in result.stderr


def test_payload_is_not_taken_for_restored_files_by_its_clear_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without download checksums only added_tokens.json (identical on both sides) agrees.
    files = _oasst_files(tmp_path)
    _bundle(monkeypatch, release_from_json(_oasst_document(files, download_sums=False), source="t"))
    result = run("verify", _folder(tmp_path / "payload", files["payload"]))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "cannot tell which release" in result.stderr


def _sibling_releases(
    tmp_path: Path,
) -> Tuple[Dict[str, bytes], Dict[str, bytes], Release, Release]:
    """Two releases on one base with the same names and JSON files (PygmalionAI's 7B pair):
    the first publishes MD5s of every file, the second SHA-256s of its weights only."""
    shared = {"config.json": b'{"model": "llama"}', "generation_config.json": b'{"a": 1}'}
    first = {**shared, "pytorch_model-00001-of-00001.bin": generated("first weights", 4000)}
    second = {**shared, "pytorch_model-00001-of-00001.bin": generated("second weights", 4000)}

    def release(name: str, files: Dict[str, bytes], *, by_md5: bool) -> Release:
        document = {
            "schema": "belle-patch-release/1",
            "id": name,
            "name": name,
            "format": "oasst",
            "files": [
                {"name": n, "md5": md5(d)}
                if by_md5
                else {"name": n, "sha256": sha256(d) if n.endswith(".bin") else None}
                for n, d in files.items()
            ],
        }
        return release_from_json(document, source="test")

    return (
        first,
        second,
        release("md5-sibling", first, by_md5=True),
        release("sha256-sibling", second, by_md5=False),
    )


def test_sibling_with_sha256s_is_told_from_one_with_md5s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, by_md5, by_sha256 = _sibling_releases(tmp_path)
    _bundle(monkeypatch, by_md5, by_sha256)
    result = run("verify", _folder(tmp_path / "second", second))
    assert result.exit_code == 0, result.stderr
    assert "pytorch_model-00001-of-00001.bin: OK" in result.stdout.splitlines()
    assert "checking against sha256-sibling" in result.stderr
    result = run("verify", _folder(tmp_path / "first", first))
    assert result.exit_code == 0, result.stderr
    assert "checking against md5-sibling" in result.stderr
    # A damaged file that fits neither is still checked, and fails.
    damaged = {**first, "pytorch_model-00001-of-00001.bin": generated("damaged", 4000)}
    result = run("verify", _folder(tmp_path / "damaged", damaged))
    assert result.exit_code == 1
    assert "pytorch_model-00001-of-00001.bin: FAILED" in result.stdout.splitlines()


def test_a_file_the_same_in_base_and_restored_folders_never_tells_the_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PygmalionAI's tokenizer.model is LLaMA's, in the base list and the restored list alike.
    tokenizer = generated("llama tokenizer", 700)
    restored = {"tokenizer.model": tokenizer, "pytorch_model-00001-of-00001.bin": b"r" * 3000}
    bases = {"tokenizer.model": tokenizer, "pytorch_model-00001-of-00001.bin": b"b" * 3000}
    document = {
        "schema": "belle-patch-release/1",
        "id": "same-tokenizer",
        "name": "same-tokenizer",
        "format": "oasst",
        "files": [{"name": n, "sha256": sha256(d)} for n, d in restored.items()],
        "base_files": [{"name": n, "sha256": sha256(d)} for n, d in bases.items()],
    }
    _bundle(monkeypatch, release_from_json(document, source="test"))
    result = run("verify", _folder(tmp_path / "llama-hf", bases))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "cannot tell which release these files belong to" in result.stderr
    result = run("verify", _folder(tmp_path / "restored", restored))
    assert result.exit_code == 0, result.stderr
    assert "checking against same-tokenizer" in result.stderr


# ------------------------------------------------------------------ 2. base folder


def test_base_folder_intact(oasst: Dict[str, Any]) -> None:
    result = run("verify", oasst["base"], "--release", "oasst-test-xor", "--base")
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout) == sorted(f"{n}: OK" for n in oasst["bases"])
    assert result.stderr == ""


def test_base_folder_with_one_file_changed(oasst: Dict[str, Any]) -> None:
    changed = oasst["base"] / "pytorch_model-00001-of-00001.bin"
    changed.write_bytes(b"x" + changed.read_bytes()[1:])
    result = run("verify", oasst["base"], "--release", "oasst-test-xor", "--base")
    assert result.exit_code == 1
    assert _lines(result.stdout) == sorted(
        f"{n}: {'FAILED' if n == changed.name else 'OK'}" for n in oasst["bases"]
    )
    mismatch, summary = result.stderr.splitlines()
    assert mismatch.startswith(f"belle-patch: {changed.name}: {BASE_DIFFERS}")
    assert ENVIRONMENT in mismatch
    assert summary == "belle-patch: WARNING: 1 computed checksum did NOT match"


def test_base_folder_is_told_only_with_base(oasst: Dict[str, Any]) -> None:
    told = run("verify", oasst["base"], "--base")
    assert told.exit_code == 0, told.stderr
    assert _lines(told.stdout) == sorted(f"{n}: OK" for n in oasst["bases"])
    assert told.stderr == f"belle-patch: checking against the base of {NAME}\n"
    untold = run("verify", oasst["base"])
    assert untold.exit_code == 2
    assert untold.stdout == ""
    assert "cannot tell which release" in untold.stderr


def test_base_folder_against_a_json_manifest_and_from_python(
    oasst: Dict[str, Any], tmp_path: Path
) -> None:
    document = dict(oasst["document"], id="elsewhere", name="elsewhere")
    manifest = write(tmp_path / "release.json", json.dumps(document).encode())
    missing = oasst["base"] / "config.json"
    missing.unlink()
    result = run("verify", oasst["base"], "--manifest", manifest, "--base")
    assert result.exit_code == 1
    assert "config.json: FAILED open or read" in result.stdout.splitlines()
    assert "tokenizer.model: OK" in result.stdout.splitlines()
    assert "config.json: No such file or directory" in result.stderr
    report = belle_patch.verify([oasst["base"]], release="oasst-test-xor", base=True)
    assert not report.ok
    assert {c.name: c.status for c in report.files}["config.json"] == "MISSING"


def test_base_of_a_release_without_base_is_a_usage_error(oasst: Dict[str, Any]) -> None:
    result = run("verify", oasst["base"], "--release", "openbuddy-30b-ggml", "--base")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "lists no base files" in result.stderr


# ------------------------------------------------------------------ 3. downloads


def test_payload_against_published_sha256s(oasst: Dict[str, Any]) -> None:
    result = run("verify", oasst["payload"], "--release", "oasst-test-xor")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "pytorch_model-00001-of-00001.bin: OK\n"
    assert "publishes no checksum for 4 of its files" in result.stderr
    told = run("verify", oasst["payload"])
    assert told.exit_code == 0, told.stderr
    assert told.stdout == "pytorch_model-00001-of-00001.bin: OK\n"
    assert f"checking against the downloads of {NAME}" in told.stderr


def test_payload_with_a_damaged_download(oasst: Dict[str, Any]) -> None:
    damaged = oasst["payload"] / "pytorch_model-00001-of-00001.bin"
    damaged.write_bytes(damaged.read_bytes()[:-1])
    result = run("verify", oasst["payload"], "--release", "oasst-test-xor")
    assert result.exit_code == 1
    assert result.stdout == "pytorch_model-00001-of-00001.bin: FAILED\n"
    assert "WARNING: 1 computed checksum did NOT match" in result.stderr
    report = belle_patch.verify([oasst["payload"]], release="oasst-test-xor")
    assert [(c.name, c.method) for c in report.files] == [(damaged.name, "sha256")]


def test_restored_folder_with_release_is_still_checked_as_restored(
    oasst: Dict[str, Any],
) -> None:
    result = run("verify", oasst["restored"], "--release", "oasst-test-xor")
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout) == sorted(f"{n}: OK" for n in oasst["plain"])


def test_payload_of_a_release_without_download_checksums(tmp_path: Path) -> None:
    payload = _folder(
        tmp_path / "oasst-sft-6-llama-30b-xor",
        {"config.json": generated("xored config", 500), "added_tokens.json": ADDED_TOKENS},
    )
    result = run("verify", payload, "--release", "oasst-sft-6-llama-30b-xor")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "publishes no download checksums" in result.stderr
    assert "no file was verified" in result.stderr


def _openbuddy(tmp_path: Path) -> Tuple[Path, Dict[str, Any]]:
    key = generated("openbuddy key", 4096)
    plain = {"model-q4_0.bin": generated("ggml", 3000), "model-q5_0.bin": generated("q5", 2000)}
    encs = {f"{n}.enc": openbuddy_reference(d, key) for n, d in plain.items()}
    folder = _folder(tmp_path / "openbuddy-enc", encs)
    document = {
        "id": "openbuddy-test",
        "name": "Test/openbuddy-test",
        "format": "openbuddy",
        "files": [
            {
                "name": n,
                "enc_name": f"{n}.enc",
                "enc_sha256": sha256(encs[f"{n}.enc"]) if "q4" in n else None,
            }
            for n in plain
        ],
    }
    return folder, document


def test_openbuddy_downloads_against_published_sha256s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, document = _openbuddy(tmp_path)
    _bundle(monkeypatch, release_from_json(document, source="test"))
    result = run("verify", folder, "--release", "openbuddy-test")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "model-q4_0.bin.enc: OK\n"
    assert "publishes no checksum for 1 of its files, which were not checked: " \
        "model-q5_0.bin.enc" in result.stderr  # fmt: skip
    told = run("verify", folder)
    assert told.exit_code == 0, told.stderr
    assert told.stdout == "model-q4_0.bin.enc: OK\n"


def test_openbuddy_release_without_download_checksums(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path / "enc",
        {"pytorch_model-00001-of-00002.bin.enc": generated("enc", 1000)},
    )
    result = run("verify", folder, "--release", "openbuddy-llama-7b-v4-fp16")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "publishes no download checksums, so no file could be checked" in result.stderr
    assert "no file was verified" in result.stderr


def test_help_documents_base() -> None:
    result = run("verify", "--help")
    assert result.exit_code == 0
    assert "--base" in result.stdout
    assert "converted LLaMA folder" in result.stdout


def _local_dir_download(
    request: pytest.FixtureRequest, folder: Path, files: Dict[str, bytes]
) -> Path:
    """``files`` downloaded with ``--local-dir`` by huggingface_hub (``local_dir_download``,
    conftest_hub.py), asked for only once huggingface_hub is known to be there: without it the
    test skips (fails under BELLE_PATCH_REQUIRE_HUB=1) while the rest of the module runs."""
    require_huggingface_hub()
    builder: Callable[..., LocalDirDownload] = request.getfixturevalue("local_dir_download")
    return builder(folder, files=files).folder


def test_hugging_face_download_of_a_release_without_download_checksums(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    enc = "pytorch_model-00001-of-00002.bin.enc"
    folder = _local_dir_download(request, tmp_path / "openbuddy-enc", {enc: generated("enc", 1000)})
    result = run("verify", folder, "--release", "openbuddy-llama-7b-v4-fp16")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{enc}: OK\n"
    assert "publishes no download MD5s; content addresses only" in result.stderr
    (folder / enc).write_bytes(generated("other", 1000))
    damaged = run("verify", folder, "--release", "openbuddy-llama-7b-v4-fp16")
    assert damaged.exit_code == 1
    assert damaged.stdout == f"{enc}: FAILED\n"


def test_restored_openbuddy_folder_is_checked_against_what_was_restored(tmp_path: Path) -> None:
    key = generated("openbuddy key", 16 * 1024 * 1024)
    plain = torch_like("restored", 64, 3000)
    enc = _folder(tmp_path / "enc", {"model.bin.enc": openbuddy_reference(plain, key)})
    key_file = write(tmp_path / "consolidated.00.pth", key)
    out = tmp_path / "out"
    restored = run("decrypt", enc, "--key", key_file, "--out", out, "--format", "openbuddy")
    assert restored.exit_code == 0, restored.stderr
    result = run("verify", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "model.bin: OK\n"
    (out / "model.bin").write_bytes(b"PK\x03\x04" + plain[4:-1] + b"x")
    changed = run("verify", out)
    assert changed.exit_code == 1
    assert changed.stdout == "model.bin: FAILED\n"


def test_base_listed_by_sha256_shared_by_two_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _oasst_files(tmp_path)
    documents = []
    for name in ("Test/pyg-a", "Test/pyg-b"):
        document = _oasst_document(files, download_sums=False)
        document["id"] = document["name"] = name
        document["base_files"] = [
            {"name": n, "sha256": sha256(d)} for n, d in files["bases"].items()
        ]
        documents.append(release_from_json(document, source="test"))
    _bundle(monkeypatch, *documents)
    base = _folder(tmp_path / "llama-7b-hf", files["bases"])
    result = run("verify", base, "--base")
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout) == sorted(f"{n}: OK" for n in files["bases"])
    assert result.stderr.splitlines() == [
        "belle-patch: checking against the base of Test/pyg-a",
        "belle-patch: Test/pyg-b is made against the same base",
    ]
    report = belle_patch.verify([base], base=True)
    assert {c.method for c in report.files} == {"sha256"}


def test_base_folder_that_is_a_hugging_face_download(
    oasst: Dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base = _local_dir_download(request, tmp_path / "llama-hf-download", oasst["bases"])
    result = run("verify", base, "--release", "oasst-test-xor", "--base")
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout) == sorted(f"{n}: OK" for n in oasst["bases"])
    assert f"checking the MD5s of the base of {NAME} in the same read" in result.stderr
    told = run("verify", base, "--base")
    assert told.exit_code == 0, told.stderr
    assert f"the base of {NAME}" in told.stderr


def test_an_assumed_base_list_says_so(tmp_path: Path) -> None:
    base = tmp_path / "llama30b_hf"
    base.mkdir()
    (base / "config.json").write_bytes(b"{}")
    assumed = run(
        "verify", base, "--base", "--release", "oasst-sft-7-llama-30b-xor", "--ignore-missing"
    )
    assert assumed.exit_code == 1
    assert assumed.stdout == "config.json: FAILED\n"
    assert "the base list of OpenAssistant/oasst-sft-7-llama-30b-xor is assumed, not confirmed" in (
        assumed.stderr
    )
    confirmed = run(
        "verify", base, "--base", "--release", "oasst-sft-6-llama-30b-xor", "--ignore-missing"
    )
    assert confirmed.exit_code == 1
    assert "is assumed" not in confirmed.stderr
