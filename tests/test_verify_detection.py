"""verify without a list: which release, or what belle-patch recorded when it restored."""

from __future__ import annotations

import json
from pathlib import Path

from belle_patch.expect.releases import find_release

from conftest import generated
from helpers import default_files, make_release, run


def test_demo_folder_verifies_against_its_state(tmp_path: Path) -> None:
    out = tmp_path / "d"
    assert run("demo", "--out", out).exit_code == 0
    result = run("verify", out)
    assert result.exit_code == 0, result.stderr
    assert "TechGPT" not in result.stderr and "FAILED" not in result.stdout
    assert "state.json" in result.stderr
    assert result.stdout.count(": OK") == 4


def test_unbundled_release_restored_without_a_list(tmp_path: Path) -> None:
    made = make_release(tmp_path, default_files(), generated("key", 4000))
    out = tmp_path / "out"
    assert run("decrypt", made.enc_dir, "-k", made.key, "-o", out).exit_code == 0
    intact = run("verify", out)
    assert intact.exit_code == 0, intact.stdout + intact.stderr
    assert "no bundled release fits these files" in intact.stderr
    (out / "tokenizer_config.json").write_bytes(b'{"tokenizer_class": "Damaged"}\n')
    damaged = run("verify", out)
    assert damaged.exit_code == 1
    assert "tokenizer_config.json: FAILED\n" in damaged.stdout
    assert damaged.stdout.count(": OK") == 2
    report = json.loads(run("verify", out, "--json").stdout)
    assert report["release"] is None and report["against"].endswith("state.json")


def test_names_alone_do_not_choose_a_release(tmp_path: Path) -> None:
    # TechGPT-7B lists these names, but the content is not TechGPT's and nothing is recorded.
    for name, content in default_files().items():
        (tmp_path / name).write_bytes(content)
    result = run("verify", tmp_path)
    assert result.exit_code == 2
    assert "cannot tell which release" in result.stderr
    assert "TechGPT" not in result.stderr and result.stdout == ""


def test_empty_folder_has_no_files_to_check(tmp_path: Path) -> None:
    result = run("verify", tmp_path)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "belle-patch: no files to check\n"


def test_folder_with_patches_and_restored_files_is_checked_in_full(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name, content in default_files().items():
        (model / name).write_bytes(content)
    key = tmp_path / "key.pth"
    key.write_bytes(generated("key", 3000))
    enc = tmp_path / "enc"
    assert run("encrypt", model, "-k", key, "-o", enc).exit_code == 0
    assert run("decrypt", enc, "-k", key, "-o", enc, "-m", enc / "manifest.json").exit_code == 0
    (enc / "config.json").write_bytes(b'{"model_type": "damaged"}\n')
    result = run("verify", enc, "-m", enc / "manifest.json")
    assert result.exit_code == 1
    assert "config.json: FAILED\n" in result.stdout
    assert result.stdout.count(".enc: OK") == 3


def test_release_download_folder_with_a_damaged_restored_file(tmp_path: Path) -> None:
    release = find_release("belle-llama-13b-2m-enc")
    entry = next(f for f in release.files if f.name == "special_tokens_map.json")
    assert entry.enc_name
    (tmp_path / entry.enc_name).write_bytes(b"not the published bytes")
    (tmp_path / "special_tokens_map.json").write_bytes(b"{damaged}")
    report = json.loads(run("verify", tmp_path, "--json").stdout)
    statuses = {f["name"]: f["status"] for f in report["files"]}
    assert statuses["special_tokens_map.json"] == "FAILED"
    assert statuses[entry.enc_name] == "FAILED"


def test_release_without_md5s_says_so(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model-00002-of-00003.bin").write_bytes(b"x")
    result = run("verify", "--release", "lawyer-llama-13b-beta1.0", tmp_path)
    assert result.exit_code == 1
    assert "publishes no MD5s" in result.stderr
    assert "properly formatted" not in result.stderr


def test_partial_release_names_what_was_not_checked(tmp_path: Path) -> None:
    release = find_release("belle-llama-ext-13b")
    checked = [f for f in release.files if f.md5]
    assert len(checked) == 1
    result = run("verify", "--release", "belle-llama-ext-13b", tmp_path, "--ignore-missing")
    assert "pytorch_model-00001-of-00003.bin" in result.stderr
    assert "publishes no MD5 for 6 of its files" in result.stderr
    report = json.loads(
        run("verify", "--release", "belle-llama-ext-13b", tmp_path, "--json").stdout
    )
    assert len(report["unchecked"]) == 6
    assert checked[0].name not in report["unchecked"]
