"""Bundled releases: the data, the releases command, detection, key identification, diagnosis."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from belle_patch.expect import keys as keycheck
from belle_patch.expect.releases import MANIFEST_FOLDER, KnownKey, bundled_releases, find_release

from conftest import generated, naive_xor
from helpers import all_names, final_names, make_release, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_manifests

RESEARCH = Path(build_manifests.DEFAULT_RESEARCH)
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# md5("{}"): BELLE-LLaMA-13B-2M's special_tokens_map.json is the two bytes "{}".
BRACES_SHA = hashlib.sha256(b"{}").hexdigest()


def test_bundled_manifests_are_what_the_script_makes() -> None:
    expected = build_manifests.build_all(json.loads(RESEARCH.read_text()))
    shipped = {p.name: p.read_text() for p in MANIFEST_FOLDER.glob("*.json")}
    assert shipped == expected


def test_every_researched_release_is_bundled() -> None:
    research = json.loads(RESEARCH.read_text())
    # The other XOR families are bundled from their own data (tests/test_families_registry.py).
    bellelike = {r.id for r in bundled_releases() if r.format in ("header", "no-header")}
    assert {r["id"] for r in research["releases"]} == bellelike


def test_13b_2m_is_complete() -> None:
    release = find_release("BELLE-LLaMA-13B-2M-enc")
    assert len(release.enc_md5s()) == 9
    assert len([f for f in release.files if f.md5]) == 9
    assert dict(release.other_files) == {"README.md": "d463d8a04501fbf1d71feaa8fc1be250"}
    assert (
        release.enc_md5s()[
            "pytorch_model-00001-of-00003.bin."
            "5abb160ecbd441c6a1fbe00a9eaa194ee0bd8cd75850c24f503336bd29f0dc45.enc"
        ]
        == "0311f7aac77860f24e5d6379043a1c5e"
    )
    assert release.restored_digests()["special_tokens_map.json"] == hashlib.md5(b"{}").hexdigest()


def test_releases_json_lists_every_release_with_its_files() -> None:
    result = run("releases", "--json")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert len(listed) == len(bundled_releases())
    by_id = {r["id"]: r for r in listed}
    assert by_id["belle-llama-ext-13b"]["key"] == "llama1-7b/consolidated.00.pth"
    assert by_id["techgpt-7b"]["format"] == "no-header"
    files = by_id["belle-llama-13b-2m-enc"]["files"]
    assert len(files) == 9
    assert set(files[0]) >= {"name", "md5", "enc_name", "enc_md5"}


def test_releases_text() -> None:
    result = run("releases")
    assert result.exit_code == 0
    assert "belle-llama-13b-2m-enc  (BELLE-LLaMA-13B-2M-enc)" in result.stdout
    assert "lists complete" in result.stdout
    assert "header-less patches" in result.stdout


def test_unknown_release_is_a_usage_error(tmp_path: Path) -> None:
    result = run("verify", tmp_path, "--release", "nope")
    assert result.exit_code == 2
    assert "unknown release 'nope'" in result.stderr and "belle-llama-13b-2m-enc" in result.stderr


# ------------------------------------------------------------------ detection and checks


def _braces_patch(folder: Path, key: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    patch = folder / f"special_tokens_map.json.{BRACES_SHA}.enc"
    patch.write_bytes(bytes.fromhex(BRACES_SHA) + naive_xor(b"{}", key, 10 * 1024 * 1024))
    return patch


def test_decrypt_recognises_the_release_and_checks_its_md5(tmp_path: Path) -> None:
    key = tmp_path / "key.pth"
    key.write_bytes(generated("k", 100))
    patch = _braces_patch(tmp_path / "enc", key.read_bytes())
    out = tmp_path / "out"
    result = run("decrypt", patch, "-k", key, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "release: BELLE-LLaMA-13B-2M-enc (recognised from the file names)" in result.stderr
    assert "SHA-256 + MD5 verified" in result.stdout
    assert (out / "special_tokens_map.json").read_bytes() == b"{}"


def test_check_downloads_compares_with_the_published_download(tmp_path: Path) -> None:
    key = tmp_path / "key.pth"
    key.write_bytes(generated("k", 100))
    patch = _braces_patch(tmp_path / "enc", key.read_bytes())
    result = run("decrypt", patch, "-k", key, "-o", tmp_path / "out", "--check-downloads")
    # Made with another key than the publisher's, so it is not the published download.
    assert result.exit_code == 1
    assert "differs from the published 1ab707fa9b0c4be294fd0b867d73e919" in result.stderr
    assert all_names(tmp_path / "out") == []


def test_wrong_key_with_a_damaged_download_blames_the_download(tmp_path: Path) -> None:
    key = tmp_path / "key.pth"
    key.write_bytes(generated("k", 100))
    patch = _braces_patch(tmp_path / "enc", generated("other", 100))
    result = run("decrypt", patch, "-k", key, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "the download's MD5" in result.stderr
    assert "download this file again" in result.stderr
    assert "the key does not fit" not in result.stderr  # a bad download stops nothing
    assert all_names(tmp_path / "out") == []


def test_wrong_key_with_an_intact_download_blames_the_key(tmp_path: Path) -> None:
    made = make_release(tmp_path, {"config.json": b'{"a": 1}', "w.bin": b"w" * 5000}, b"k" * 64)
    assert (
        run("encrypt", tmp_path / "finetuned", "-k", made.key, "-o", tmp_path / "pub").exit_code
        == 0
    )
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"z" * 64)
    manifest = tmp_path / "pub" / "manifest.json"
    result = run("decrypt", tmp_path / "pub", "-k", wrong, "-o", tmp_path / "out", "-m", manifest)
    assert result.exit_code == 1
    assert "the download matches the published MD5, so the key file is wrong" in result.stderr
    assert "the key does not fit this release" in result.stderr
    assert all_names(tmp_path / "out") == []


def test_verify_finds_the_release_of_a_restored_folder(tmp_path: Path) -> None:
    folder = tmp_path / "BELLE-LLaMA-13B-2M"
    folder.mkdir()
    (folder / "special_tokens_map.json").write_bytes(b"{}")
    result = run("verify", folder)
    assert result.exit_code == 1  # the other eight files are missing
    assert "checking against BELLE-LLaMA-13B-2M-enc" in result.stderr
    assert "special_tokens_map.json: OK" in result.stdout
    assert "config.json: FAILED open or read" in result.stdout
    assert "README.md" not in result.stdout  # the model card is checked only when present
    partial = run("verify", folder, "--ignore-missing")
    assert (partial.exit_code, partial.stdout) == (0, "special_tokens_map.json: OK\n")


def test_verify_of_downloads_uses_the_download_list(tmp_path: Path) -> None:
    release = find_release("belle-llama-13b-2m-enc")
    folder = tmp_path / "enc"
    folder.mkdir()
    for entry in release.files[:2]:
        assert entry.enc_name
        (folder / entry.enc_name).write_bytes(b"not the published bytes")
    result = run("verify", folder, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["release"] == "belle-llama-13b-2m-enc"
    statuses = {f["name"]: f["status"] for f in report["files"]}
    assert len(statuses) == 9
    assert [statuses[e.enc_name] for e in release.files[:2] if e.enc_name] == ["FAILED"] * 2
    assert list(statuses.values()).count("MISSING") == 7


def test_verify_without_any_known_name_asks_for_a_list(tmp_path: Path) -> None:
    (tmp_path / "mystery.bin").write_bytes(b"x")
    result = run("verify", tmp_path)
    assert result.exit_code == 2
    assert "cannot tell which release" in result.stderr and "--manifest" in result.stderr


# ------------------------------------------------------------------ key identification


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_llama2_key_is_refused_before_any_work(tmp_path: Path) -> None:
    key = _sparse(tmp_path / "consolidated.00.pth", 13_476_925_163)
    patch = _braces_patch(tmp_path / "enc", b"k")
    out = tmp_path / "out"
    result = run("decrypt", patch, "-k", key, "-o", out)
    assert result.exit_code == 2
    assert "the key is Llama-2-7b-chat consolidated.00.pth (by size)" in result.stderr
    assert "does not fit BELLE-LLaMA-13B-2M-enc" in result.stderr
    assert "needs LLaMA-1 13B consolidated.00.pth" in result.stderr
    assert not out.exists()


def test_right_size_with_wrong_content_is_not_taken_for_llama(tmp_path: Path) -> None:
    key = _sparse(tmp_path / "consolidated.00.pth", 13_476_939_516)
    identity = keycheck.identify_key(keycheck.KeySource(key))
    assert identity.key is None
    assert identity.describe() == "not a known LLaMA file"


def test_check_key_identifies_by_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "consolidated.00.pth"
    key.write_bytes(generated("a 7B stand-in", 4096))
    fake = KnownKey(
        "llama1-13b/consolidated.00.pth", "LLaMA-1 13B consolidated.00.pth", None,
        (hashlib.md5(key.read_bytes()).hexdigest(),), None, True,
    )  # fmt: skip
    monkeypatch.setattr(keycheck, "known_keys", lambda: (fake,))
    patch = _braces_patch(tmp_path / "enc", key.read_bytes())
    result = run("decrypt", patch, "-k", key, "-o", tmp_path / "out", "--check-key")
    assert result.exit_code == 0, result.stderr
    assert "key: LLaMA-1 13B consolidated.00.pth (by MD5)" in result.stderr


# ------------------------------------------------------------------ header-less (TechGPT)


def _headerless_manifest(tmp_path: Path, content: bytes) -> Path:
    manifest = tmp_path / "techgpt.json"
    manifest.write_text(
        json.dumps(
            {
                "name": "header-less test release",
                "format": "no-header",
                "files": [
                    {
                        "name": "config.json",
                        "md5": hashlib.md5(content).hexdigest(),
                        "enc_name": f"config.json.{EMPTY_SHA}.enc",
                    }
                ],
            }
        )
    )
    return manifest


def test_headerless_patch_restores_with_its_md5(tmp_path: Path) -> None:
    content = b'{"model_type": "llama", "vocab_size": 32000}'
    key = generated("tech key", 33)
    (tmp_path / "key.pth").write_bytes(key)
    patch = tmp_path / "enc" / f"config.json.{EMPTY_SHA}.enc"
    patch.parent.mkdir()
    patch.write_bytes(naive_xor(content, key, 10 * 1024 * 1024))  # no header
    manifest = _headerless_manifest(tmp_path, content)
    out = tmp_path / "out"
    result = run("decrypt", patch, "-k", tmp_path / "key.pth", "-o", out, "-m", manifest)
    assert result.exit_code == 0, result.stderr
    assert "restored config.json" in result.stdout
    assert "MD5 verified; header-less format" in result.stdout
    assert (out / "config.json").read_bytes() == content

    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("not it", 33))
    failed = run("decrypt", patch, "-k", wrong, "-o", tmp_path / "out2", "-m", manifest)
    assert failed.exit_code == 1
    assert "does not match the MD5 in the list" in failed.stderr
    assert all_names(tmp_path / "out2") == []


def test_techgpt_names_select_the_headerless_mode(tmp_path: Path) -> None:
    patch = tmp_path / "enc" / f"config.json.{EMPTY_SHA}.enc"
    patch.parent.mkdir()
    patch.write_bytes(generated("not the real one", 700))
    (tmp_path / "key.pth").write_bytes(b"k" * 10)
    result = run("decrypt", patch, "-k", tmp_path / "key.pth", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "release: TechGPT-7B (neukg) (recognised from the file names)" in result.stderr
    assert "does not match the MD5 in the list" in result.stderr
    assert "differs from the published 6b2b545ff7bacaeec6297198b4b745dd" in result.stderr


def test_unknown_headerless_name_is_explained(tmp_path: Path) -> None:
    patch = tmp_path / f"mystery.json.{EMPTY_SHA}.enc"
    patch.write_bytes(generated("x", 700))
    (tmp_path / "key.pth").write_bytes(b"k")
    result = run("decrypt", patch, "-k", tmp_path / "key.pth", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "SHA-256 of nothing" in result.stderr and "--release techgpt-7b" in result.stderr


# ------------------------------------------------------------------ xxh3 re-verification


def test_verify_uses_the_recorded_xxh3_until_the_file_changes(tmp_path: Path) -> None:
    made = make_release(tmp_path, {"config.json": b"{}", "w.bin": generated("w", 9000)}, b"k" * 50)
    out = tmp_path / "out"
    assert run("decrypt", made.enc_dir, "-k", made.key, "-o", out).exit_code == 0
    assert (out / ".belle-patch" / "state.json").is_file()
    fast = run("verify", out, "-m", made.md5_list, "--json")
    assert {f["method"] for f in json.loads(fast.stdout)["files"]} == {"xxh3_128"}
    full = run("verify", out, "-m", made.md5_list, "--json", "--full")
    assert {f["method"] for f in json.loads(full.stdout)["files"]} == {"md5"}
    (out / "w.bin").write_bytes(b"tampered")
    changed = run("verify", out, "-m", made.md5_list, "--json")
    assert changed.exit_code == 1
    methods = {f["name"]: (f["method"], f["status"]) for f in json.loads(changed.stdout)["files"]}
    assert methods == {"config.json": ("xxh3_128", "OK"), "w.bin": ("md5", "FAILED")}
    assert final_names(out) == ["config.json", "w.bin"]
