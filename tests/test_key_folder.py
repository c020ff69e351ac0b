"""A folder given as the key is named as such, with the way out, before anything is written.

Passing the LLaMA folder instead of its consolidated.00.pth is the common slip; without the
check the error would be a bare "Is a directory" from deep inside the read loop, or (worse)
the folder's 4096-byte inode size would be taken for a key size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import belle_patch

from conftest import generated
from helpers import Release, make_release, run

PROBLEM = "the key is a folder"
HINT = "pass the consolidated.00.pth file itself"


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return make_release(tmp_path, {"config.json": b'{"a": 1}\n'}, generated("folder key", 4096))


@pytest.fixture
def key_folder(release: Release) -> Path:
    """The folder that holds the key: what users pass by mistake."""
    return release.key.parent


# The ways the key reaches a job: each must give the same message.
FORMS = {
    "options": lambda r, key, out: ["decrypt", r.enc_dir, "--key", key, "--out", out],
    "short": lambda r, key, out: ["decrypt", r.patches["config.json"], "-k", key, "-o", out],
    "positional": lambda r, key, out: ["decrypt", r.patches["config.json"], key, out],
    "encrypt": lambda r, key, out: ["encrypt", r.key.parent.parent / "finetuned", "--key", key,
                                    "--out", out],
}  # fmt: skip


@pytest.mark.parametrize("form", FORMS)
def test_a_key_folder_is_a_usage_error_that_says_so_and_how_to_fix_it(
    release: Release, key_folder: Path, tmp_path: Path, form: str
) -> None:
    out = tmp_path / "out"
    result = run(*FORMS[form](release, key_folder, out))
    assert result.exit_code == 2
    assert result.stdout == ""
    # One line: the path, the problem, and the hint, in that order.
    assert result.stderr == f"belle-patch: error: {key_folder}: {PROBLEM}; {HINT}\n"
    assert not out.exists()


def test_json_output_carries_the_same_message(
    release: Release, key_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "--key", key_folder, "--out", out, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report == {"ok": False, "error": f"{key_folder}: {PROBLEM}; {HINT}", "exit_code": 2}
    assert PROBLEM in result.stderr and HINT in result.stderr
    assert not out.exists()


def test_the_api_raises_a_key_file_error_with_the_hint(
    release: Release, key_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(belle_patch.KeyFileError) as raised:
        belle_patch.decrypt(release.enc_dir, key=key_folder, out=out)
    assert raised.value.hint == HINT
    assert str(raised.value) == f"{key_folder}: {PROBLEM}; {HINT}"
    assert not out.exists()
