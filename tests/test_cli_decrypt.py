"""decrypt from the command line: batch behaviour, exit codes, messages, what is left on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import generated
from helpers import Release, all_names, default_files, final_names, make_release, run


@pytest.fixture
def release(tmp_path: Path) -> Release:
    made = make_release(tmp_path, default_files(), generated("llama key", 5000))
    (made.enc_dir / "README.md").write_text("# model card\n")
    (made.enc_dir / ".gitattributes").write_text("*.enc filter=lfs\n")
    return made


def assert_restored(out: Path, release: Release) -> None:
    assert final_names(out) == sorted(release.plain)
    for name, content in release.plain.items():
        assert (out / name).read_bytes() == content


def test_folder_restores_every_patch_and_notes_other_files(
    release: Release, tmp_path: Path
) -> None:
    out = tmp_path / "restored" / "deep"
    result = run("decrypt", release.enc_dir, "--key", release.key, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert_restored(out, release)
    assert all_names(out) == final_names(out)  # no temporary file left behind
    assert "note: skipping README.md: not a patch (.enc) file" in result.stderr
    assert "note: skipping .gitattributes" in result.stderr
    assert "error" not in result.stderr
    lines = result.stdout.splitlines()
    # Smallest first: the config files come before the weights.
    assert lines[0].startswith("restored config.json")
    assert lines[2].startswith("restored pytorch_model.bin")
    assert lines[-1].startswith("3 restored, 0 failed;")


def test_publishers_positional_form(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    patch = release.patches["pytorch_model.bin"]
    result = run("decrypt", patch, release.key, out)
    assert result.exit_code == 0, result.stderr
    assert final_names(out) == ["pytorch_model.bin"]
    assert (out / "pytorch_model.bin").read_bytes() == release.plain["pytorch_model.bin"]


def test_restored_files_get_the_umask_mode(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = os.umask(0o027)
    try:
        assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    finally:
        os.umask(old)
    assert (out / "config.json").stat().st_mode & 0o777 == 0o640


def test_rerun_skips_verified_outputs(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".belle-patch"}
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    assert result.exit_code == 0
    assert "already restored config.json" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 restored, 3 already restored, 0 failed")
    assert {
        p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".belle-patch"
    } == before


def test_existing_bad_output_is_left_alone_until_force(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_bytes(b"")  # what a crashed tool leaves
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert "config.json: an output that does not verify is in the way" in result.stderr
    assert "--force" in result.stderr
    assert (out / "config.json").read_bytes() == b""
    assert (out / "pytorch_model.bin").read_bytes() == release.plain["pytorch_model.bin"]
    assert result.stdout.splitlines()[-1].startswith("2 restored, 1 failed")

    forced = run("decrypt", release.enc_dir, "-k", release.key, "-o", out, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert_restored(out, release)


def test_manifest_md5_is_checked_in_the_same_pass(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out, "-m", release.md5_list)
    assert result.exit_code == 0, result.stderr
    assert "restored config.json (24 B, SHA-256 + MD5 verified)" in result.stdout

    wrong = tmp_path / "wrong.txt"
    text = release.md5_list.read_text().splitlines()
    text = [("0" * 32 + "  config.json") if line.endswith("config.json") else line for line in text]
    wrong.write_text("\n".join(text) + "\n")
    out2 = tmp_path / "out2"
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out2, "-m", wrong)
    assert result.exit_code == 1
    assert "config.json" in result.stderr and "differs from the list's 000000" in result.stderr
    assert "the key does not fit" not in result.stderr  # the patch verified: the list is off
    assert "pytorch_model.bin" in final_names(out2)
    assert "config.json" not in final_names(out2)


def test_json_report(release: Release, tmp_path: Path) -> None:
    import json

    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", tmp_path / "o", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert sorted(Path(r["output"]).name for r in report["restored"]) == sorted(release.plain)
    assert {Path(s["path"]).name for s in report["skipped"]} == {"README.md", ".gitattributes"}
    assert result.stderr == ""


def test_quiet_prints_nothing_on_success(release: Release, tmp_path: Path) -> None:
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""


# ------------------------------------------------------------------ failures


def test_wrong_key_stops_the_batch_on_the_smallest_file(release: Release, tmp_path: Path) -> None:
    wrong_key = tmp_path / "llama2.pth"
    wrong_key.write_bytes(generated("another key", 5000))
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", wrong_key, "-o", out)
    assert result.exit_code == 1
    assert "config.json" in result.stderr
    assert "does not match the SHA-256 in the header" in result.stderr
    assert "wrong key file" in result.stderr
    assert "most likely the key does not fit this release" in result.stderr
    # Without a download list, a damaged smallest download looks the same: the hint says so.
    assert "if the key is right, this file's download is damaged: download it again" in (
        result.stderr
    )
    assert result.stderr.count("does not match the SHA-256") == 1  # only the first file was tried
    assert all_names(out) == []


def _single(release: Release, tmp_path: Path, name: str, content: bytes) -> tuple[Path, Path]:
    folder = tmp_path / "single"
    folder.mkdir()
    patch = folder / name
    patch.write_bytes(content)
    return patch, tmp_path / "out"


def test_truncated_patch(release: Release, tmp_path: Path) -> None:
    original = release.patches["pytorch_model.bin"]
    patch, out = _single(release, tmp_path, original.name, original.read_bytes()[:-100])
    result = run("decrypt", patch, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert f"{patch}: the restored data does not match the SHA-256 in the header" in result.stderr
    assert "damaged download" in result.stderr
    assert all_names(out) == []


def test_flipped_byte(release: Release, tmp_path: Path) -> None:
    original = release.patches["pytorch_model.bin"]
    data = bytearray(original.read_bytes())
    data[40_000] ^= 0x01
    patch, out = _single(release, tmp_path, original.name, bytes(data))
    result = run("decrypt", patch, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert "does not match the SHA-256 in the header" in result.stderr
    assert all_names(out) == []


def test_git_lfs_pointer(release: Release, tmp_path: Path) -> None:
    pointer = (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        b"size 9948723031\n"
    )
    patch, out = _single(release, tmp_path, release.patches["pytorch_model.bin"].name, pointer)
    result = run("decrypt", patch, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert "Git LFS pointer" in result.stderr and "git lfs pull" in result.stderr
    assert all_names(out) == []


def test_file_shorter_than_the_header(release: Release, tmp_path: Path) -> None:
    patch, out = _single(release, tmp_path, release.patches["config.json"].name, b"\x01" * 31)
    result = run("decrypt", patch, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert "31 bytes, shorter than the 32-byte header" in result.stderr
    assert all_names(out) == []


def test_name_without_hash(release: Release, tmp_path: Path) -> None:
    """Only hash-less names and a key that is not OpenBuddy's: no format fits, nothing runs."""
    patch, out = _single(
        release, tmp_path, "config.json.enc", release.patches["config.json"].read_bytes()
    )
    result = run("decrypt", patch, "-k", release.key, "-o", out)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"belle-patch: error: {release.key}: the .enc names carry no SHA-256, so these are not "
        "BELLE patches as published, and they are not OpenBuddy's with this key: "
    )
    assert "give BELLE patches their published names (<name>.<sha256>.enc)" in result.stderr
    assert not out.exists()


def test_name_without_hash_beside_published_names(release: Release, tmp_path: Path) -> None:
    """With BELLE names beside it, a hash-less name is a BELLE patch with a name to fix."""
    patch, out = _single(
        release, tmp_path, "config.json.enc", release.patches["config.json"].read_bytes()
    )
    published = release.patches["tokenizer_config.json"]
    (patch.parent / published.name).write_bytes(published.read_bytes())
    result = run("decrypt", patch.parent, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert "config.json.enc: the name does not end in .<64 hex digits>.enc" in result.stderr
    assert "carry no SHA-256, as OpenBuddy's do" in result.stderr  # the note: both ways out
    assert final_names(out) == ["tokenizer_config.json"]


def test_header_not_matching_name(release: Release, tmp_path: Path) -> None:
    content = release.patches["config.json"].read_bytes()
    patch, out = _single(release, tmp_path, "config.json." + "ab" * 32 + ".enc", content)
    result = run("decrypt", patch, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert "does not match the SHA-256 in the name" in result.stderr
    assert all_names(out) == []


def test_empty_key(release: Release, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    result = run("decrypt", release.enc_dir, "-k", empty, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"belle-patch: error: {empty}: the key file is empty; "
        "pass the original LLaMA consolidated.00.pth, not a placeholder"
    )
    assert all_names(tmp_path / "out") == []


def test_missing_key(release: Release, tmp_path: Path) -> None:
    result = run("decrypt", release.enc_dir, "-k", tmp_path / "nope.pth", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "nope.pth: the key file does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert all_names(tmp_path / "out") == []


def test_missing_input(release: Release, tmp_path: Path) -> None:
    result = run("decrypt", tmp_path / "gone.enc", "-k", release.key, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "gone.enc: no such file or folder" in result.stderr
    assert all_names(tmp_path / "out") == []


def test_missing_key_option_is_a_usage_error(release: Release, tmp_path: Path) -> None:
    result = run("decrypt", release.enc_dir)
    assert result.exit_code == 2
    assert "missing --key" in result.stderr
    assert "payloads take --base DIR instead" in result.stderr


def test_output_folder_not_writable(release: Release, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", blocker / "out")
    assert result.exit_code == 1
    assert "cannot create the output folder" in result.stderr
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_folder_without_write_permission(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    finally:
        out.chmod(0o755)
    assert result.exit_code == 1
    assert "cannot create a file in the output folder: permission denied" in result.stderr
    assert all_names(out) == []


def test_debug_variable_shows_the_traceback(
    release: Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELLE_PATCH_DEBUG", "1")
    result = run("decrypt", release.enc_dir, "-k", tmp_path / "nope.pth", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_files_in_parallel_give_the_same_result(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out, "--jobs", "3")
    assert result.exit_code == 0, result.stderr
    assert_restored(out, release)
    assert all_names(out) == final_names(out)
    assert result.stdout.splitlines()[-1].startswith("3 restored, 0 failed;")


def test_parallel_batch_still_stops_on_a_wrong_key(release: Release, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("another key", 5000))
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", wrong, "-o", out, "--jobs", "3")
    assert result.exit_code == 1
    assert result.stderr.count("does not match the SHA-256") == 1
    assert "the key does not fit this release" in result.stderr
    assert all_names(out) == []
