"""How the command line answers a user who gets the arguments wrong, pipes or scripts it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import generated
from helpers import Release, default_files, final_names, make_release, run


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return make_release(tmp_path, default_files(), generated("llama key", 5000))


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "belle_patch", *[str(a) for a in args]]


# ---------------------------------------------------------------- a patch taken for the key


def test_two_patches_and_a_folder_take_no_patch_for_the_key(
    release: Release, tmp_path: Path
) -> None:
    a, b = release.patches["config.json"], release.patches["pytorch_model.bin"]
    out = tmp_path / "out"
    result = run("decrypt", a, b, out)
    assert result.exit_code == 2
    assert f"{b} was taken for the key" in result.stderr
    assert "--key consolidated.00.pth --out DIR" in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_forgotten_key_option_names_the_argument(release: Release, tmp_path: Path) -> None:
    patches = sorted(str(p) for p in release.patches.values())
    result = run("decrypt", *patches)
    assert result.exit_code == 2
    assert "was taken for the" in result.stderr and "but it is a patch" in result.stderr
    assert "not a folder" not in result.stderr
    assert final_names(release.enc_dir) == sorted(Path(p).name for p in patches)


def test_a_patch_given_as_key_option_is_refused(release: Release, tmp_path: Path) -> None:
    patch = release.patches["config.json"]
    result = run("decrypt", release.enc_dir, "--key", patch, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "the key is a patch (.enc) file" in result.stderr
    assert not (tmp_path / "out").exists()


def test_two_positional_arguments_say_what_is_missing(release: Release, tmp_path: Path) -> None:
    result = run("decrypt", release.patches["config.json"], release.key)
    assert result.exit_code == 2
    assert "missing the output folder" in result.stderr
    assert "missing --key" not in result.stderr


# ---------------------------------------------------------------- non-regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_as_key_is_refused_without_blocking(release: Release, tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    result = subprocess.run(
        cli("decrypt", release.enc_dir, "-k", fifo, "-o", tmp_path / "out"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{fifo}: the key is not a regular file" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_as_patch_is_refused_without_blocking(release: Release, tmp_path: Path) -> None:
    fifo = tmp_path / ("x." + "0" * 64 + ".enc")
    os.mkfifo(fifo)
    result = subprocess.run(
        cli("decrypt", fifo, "-k", release.key, "-o", tmp_path / "out"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "not a regular file or folder" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_like_a_patch_in_a_folder_fails(release: Release, tmp_path: Path) -> None:
    fifo = release.enc_dir / ("tokenizer.model." + "2" * 64 + ".enc")
    os.mkfifo(fifo)
    out = tmp_path / "out"
    result = subprocess.run(
        cli("decrypt", release.enc_dir, "-k", release.key, "-o", out),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"{fifo}: not a regular file" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("3 restored, 1 failed")


def test_dangling_link_named_like_a_patch_fails(release: Release, tmp_path: Path) -> None:
    broken = release.enc_dir / ("tokenizer.model." + "1" * 64 + ".enc")
    broken.symlink_to(tmp_path / "blobs" / "gone")
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    assert result.exit_code == 1
    assert f"{broken}: the file is a link to a file that does not exist" in result.stderr
    assert "download this file again" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("3 restored, 1 failed")
    assert final_names(out) == sorted(release.plain)


# ---------------------------------------------------------------- batches


def test_two_patches_for_one_name_are_a_usage_error(release: Release, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    copy = other / release.patches["config.json"].name
    copy.write_bytes(release.patches["config.json"].read_bytes())
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, copy, "-k", release.key, "-o", out, "--force")
    assert result.exit_code == 2
    assert "two patches restore to the same file config.json" in result.stderr
    assert not out.exists()


def test_failed_run_leaves_no_lock_and_no_folder(release: Release, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("another key", 5000))
    out = tmp_path / "deep" / "out"
    result = run("decrypt", release.enc_dir, "-k", wrong, "-o", out)
    assert result.exit_code == 1
    assert not (tmp_path / "deep").exists()


def test_failed_run_into_an_existing_folder_leaves_it_as_it_was(
    release: Release, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("another key", 5000))
    assert run("decrypt", release.enc_dir, "-k", wrong, "-o", out).exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_encrypt_two_inputs_with_one_name(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "config.json").write_text(folder)
    key = tmp_path / "k.pth"
    key.write_bytes(b"k" * 64)
    result = run("encrypt", tmp_path / "a", tmp_path / "b", "-k", key, "-o", tmp_path / "enc")
    assert result.exit_code == 2
    assert "two inputs have the same name config.json" in result.stderr
    assert not (tmp_path / "enc").exists()


def test_encrypt_into_its_input_folder_does_not_encrypt_its_own_lists(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    key = tmp_path / "k.pth"
    key.write_bytes(b"k" * 64)
    assert run("encrypt", model, "-k", key, "-o", model).exit_code == 0
    second = run("encrypt", model, "-k", key, "-o", model)
    assert second.exit_code == 2
    assert "which this run would replace" in second.stderr and "--force" in second.stderr
    forced = run("encrypt", model, "-k", key, "-o", model, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "md5sums.txt ->" not in forced.stdout  # the lists are not inputs
    encrypted = [n for n in final_names(model) if n.endswith(".enc")]
    assert len(encrypted) == 1 and encrypted[0].startswith("config.json.")


def test_encrypt_of_an_earlier_output_folder_leaves_its_lists_out(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    key = tmp_path / "k.pth"
    key.write_bytes(b"k" * 64)
    assert run("encrypt", model, "-k", key, "-o", model).exit_code == 0
    again = run("encrypt", model, "-k", key, "-o", tmp_path / "enc2")
    assert again.exit_code == 0, again.stderr
    encrypted = [n for n in final_names(tmp_path / "enc2") if n.endswith(".enc")]
    assert len(encrypted) == 1 and encrypted[0].startswith("config.json.")


def test_encrypt_refuses_to_replace_an_existing_patch(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    key = tmp_path / "k.pth"
    key.write_bytes(b"k" * 64)
    enc = tmp_path / "enc"
    assert run("encrypt", model, "-k", key, "-o", enc, "--no-lists").exit_code == 0
    again = run("encrypt", model, "-k", key, "-o", enc, "--no-lists")
    assert again.exit_code == 2
    assert "already holds config.json." in again.stderr


# ---------------------------------------------------------------- scripts and pipes


def test_json_usage_error_is_a_json_object(release: Release, tmp_path: Path) -> None:
    result = run(
        "decrypt", release.enc_dir, "-k", tmp_path / "none", "-o", tmp_path / "o", "--json"
    )
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and document["ok"] is False
    assert "the key file does not exist" in document["error"]
    assert "the key file does not exist" in result.stderr


def test_json_click_usage_error_is_a_json_object(release: Release) -> None:
    result = run("decrypt", release.enc_dir, "--json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document == {"ok": False, "error": document["error"], "exit_code": 2}
    assert "missing --key" in document["error"]


def test_closed_stdout_is_not_a_failed_file(tmp_path: Path) -> None:
    for _ in range(3):
        result = subprocess.run(
            f'{" ".join(cli("releases"))} | head -1; echo "status=${{PIPESTATUS[0]}}"',
            shell=True,
            executable="/bin/bash",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        status = result.stdout.strip().splitlines()[-1]
        assert status in ("status=0", "status=141"), result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "Exception ignored" not in result.stderr


def test_ctrl_c_during_start_up_prints_no_traceback(tmp_path: Path) -> None:
    for delay in (0.08, 0.12, 0.2):
        process = subprocess.Popen(
            cli("releases"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr, (delay, stderr)
        assert process.returncode in (0, 130, -signal.SIGINT), (delay, process.returncode)


@pytest.mark.parametrize(
    ("signum", "word", "code"),
    [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "terminated", 143)],
)
def test_a_signal_that_breaks_an_extension_import_still_ends_as_the_signal(
    signum: int, word: str, code: int
) -> None:
    """numpy turns an exception raised during its import into an ImportError; the import
    machinery drops one raised in some of its callbacks. Either way the run ends as the signal."""
    script = (
        "import os, signal, sys, time\n"
        "class Finder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name != 'numpy':\n"
        "            return None\n"
        "        try:\n"
        f"            os.kill(os.getpid(), {int(signum)})\n"
        "            time.sleep(0.5)\n"
        "        except BaseException:\n"
        "            raise ImportError('numpy.core.multiarray failed to import')\n"
        "sys.meta_path.insert(0, Finder())\n"
        "sys.argv = ['belle-patch', 'releases']\n"
        "from belle_patch import entry\n"
        "entry.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stderr == f"belle-patch: {word}\n"
    assert result.returncode == code
    assert result.stdout == ""


# ---------------------------------------------------------------- help


def test_top_level_help_does_not_cut_summaries() -> None:
    result = run("--help")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands
    for name in ("decrypt", "encrypt", "verify", "releases", "demo"):
        assert name in commands


def test_decrypt_usage_shows_the_positional_form() -> None:
    from belle_patch.cli.restore import decrypt

    result = run("decrypt", "--help")
    assert "INPUT... [KEY OUTDIR]" in result.stdout.splitlines()[0]
    release_help = [p.help for p in decrypt.params if p.name == "release_name"]
    assert release_help and "belle-patch releases" in str(release_help[0])


def test_release_names_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **os.environ,
        "_BELLE_PATCH_COMPLETE": "bash_complete",
        "COMP_WORDS": "belle-patch decrypt --release belle-llama-7",
        "COMP_CWORD": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from belle_patch.cli import cli; cli(prog_name='belle-patch')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "belle-llama-7b-2m-enc" in result.stdout, result.stdout + result.stderr
    assert "lawyer" not in result.stdout
