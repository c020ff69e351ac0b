"""Wrong keys, wrong or missing base files: each fails its file, nothing under a final name."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from belle_patch.check.structure import StructureMismatch
from belle_patch.errors import (
    ChecksumMismatch,
    KeyFileError,
    OutputExistsError,
    PatchFormatError,
)
from belle_patch.expect import keys as keycheck
from belle_patch.expect.keys import check_seed
from belle_patch.formats.basestream import BaseFolder, MissingBaseFile
from belle_patch.formats.families import BELLE, OASST, OASST_GZIP, OPENBUDDY, TECHGPT
from belle_patch.jobs.restore import restore_patch
from belle_patch.jobs.restore_types import (
    ALREADY_RESTORED,
    RESTORED,
    BaseMismatch,
    RestoreOptions,
)
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.keystream import KeySource

from conftest import generated
from formats_data import (
    SEED_SIZE,
    md5,
    oasst_reference,
    openbuddy_reference,
    torch_like,
    write,
    xor_bytes,
)
from helpers import all_names, final_names

WEIGHTS = torch_like("weights", 4096, 5000, archive="pytorch_model")
CONFIG = json.dumps({"model_type": "llama", "hidden_size": 4096}).encode()


def _openbuddy_release(tmp_path: Path, name: str, plain: bytes) -> tuple[Path, Path]:
    key = generated("seed", SEED_SIZE)
    key_path = write(tmp_path / "7B" / "consolidated.00.pth", key)
    patch = write(tmp_path / "enc" / f"{name}.enc", openbuddy_reference(plain, key))
    return patch, key_path


def _out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def test_openbuddy_wrong_key_fails_the_structure_check(tmp_path: Path) -> None:
    patch, _ = _openbuddy_release(tmp_path, "pytorch_model.bin", WEIGHTS)
    wrong = write(tmp_path / "13B" / "consolidated.00.pth", generated("other", SEED_SIZE))
    out = _out(tmp_path)
    with pytest.raises(StructureMismatch) as caught:
        restore_patch(patch, KeySource(wrong), out, format=OPENBUDDY)
    message = str(caught.value)
    assert "pytorch_model.bin.enc" in message
    assert "not a valid torch or ggml file" in message
    assert "key file is likely wrong" in message
    assert all_names(out) == []


def test_openbuddy_other_llama_file_as_key_fails_past_the_zip_header(tmp_path: Path) -> None:
    # Every consolidated.00.pth starts with the same zip header, so a wrong LLaMA file as key
    # restores a correct "PK\x03\x04"; their pickles differ (13B has more layers), and so
    # the restored pickle.
    seed = torch_like("llama 7B", 4096, SEED_SIZE, archive="consolidated")[:SEED_SIZE]
    other = torch_like("llama 13B", 5120, SEED_SIZE, archive="consolidated", layers=10)
    key_path = write(tmp_path / "13B" / "consolidated.00.pth", other)
    patch = write(tmp_path / "enc" / "pytorch_model.bin.enc", openbuddy_reference(WEIGHTS, seed))
    assert xor_bytes(patch.read_bytes()[:8], other[:8]) == WEIGHTS[:8]
    out = _out(tmp_path)
    with pytest.raises(StructureMismatch, match="not a valid torch or ggml file"):
        restore_patch(patch, KeySource(key_path), out, format=OPENBUDDY)
    assert all_names(out) == []
    right = write(tmp_path / "7B" / "consolidated.00.pth", seed)
    result = restore_patch(patch, KeySource(right), out, format=OPENBUDDY)
    assert result.checks == ["structure only"]


def test_openbuddy_wrong_key_fails_the_md5_when_known(tmp_path: Path) -> None:
    patch, _ = _openbuddy_release(tmp_path, "config.json", CONFIG)
    wrong = write(tmp_path / "13B" / "consolidated.00.pth", generated("other", SEED_SIZE))
    out = _out(tmp_path)
    options = RestoreOptions(expected_md5=md5(CONFIG))
    with pytest.raises(ChecksumMismatch, match="wrong key file"):
        restore_patch(patch, KeySource(wrong), out, options, format=OPENBUDDY)
    assert all_names(out) == []


def test_openbuddy_refuses_a_key_shorter_than_the_seed(tmp_path: Path) -> None:
    patch, _ = _openbuddy_release(tmp_path, "config.json", CONFIG)
    short = write(tmp_path / "short.pth", generated("seed", 1000))
    out = _out(tmp_path)
    with pytest.raises(KeyFileError, match="shorter than the 16 MiB seed"):
        restore_patch(patch, KeySource(short), out, format=OPENBUDDY)
    assert all_names(out) == []


def test_openbuddy_unknown_type_is_restored_as_not_verified(tmp_path: Path) -> None:
    patch, key_path = _openbuddy_release(tmp_path, "prompt.txt", b"Human: hello\n")
    out = _out(tmp_path)
    result = restore_patch(patch, KeySource(key_path), out, format=OPENBUDDY)
    assert result.checks == ["not verified"]
    assert (out / "prompt.txt").read_bytes() == b"Human: hello\n"


def test_openbuddy_name_must_end_in_enc(tmp_path: Path) -> None:
    with pytest.raises(PatchFormatError, match=r"does not end in \.enc"):
        OPENBUDDY.restored_name("pytorch_model.bin")
    assert OPENBUDDY.restored_name("30b-v1.3-q4_0.bin.enc") == "30b-v1.3-q4_0.bin"
    assert OPENBUDDY.patch_name("7b-q4_0.bin") == "7b-q4_0.bin.enc"
    assert OASST.restored_name("config.json") == OASST.patch_name("config.json") == "config.json"
    assert TECHGPT.patch_name("a.bin").endswith(f".{hashlib.sha256(b'').hexdigest()}.enc")
    sha = hashlib.sha256(b"x").hexdigest()
    assert BELLE.restored_name(BELLE.patch_name("a.bin.index.json", sha)) == "a.bin.index.json"


def test_seed_check_names_the_file_the_key_should_be(tmp_path: Path) -> None:
    key_path = write(tmp_path / "consolidated.00.pth", generated("seed", SEED_SIZE + 7))
    result = check_seed(KeySource(key_path), OPENBUDDY)
    assert not result.matches
    assert result.md5 == md5(generated("seed", SEED_SIZE))
    assert "LLaMA-1 7B consolidated.00.pth" in result.describe()
    assert keycheck.seed_md5(OPENBUDDY) in result.describe()


def test_seed_check_accepts_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path = write(tmp_path / "consolidated.00.pth", generated("seed", SEED_SIZE + 7))
    monkeypatch.setattr(keycheck, "seed_md5", lambda fmt: md5(generated("seed", SEED_SIZE)))
    assert check_seed(KeySource(key_path), OPENBUDDY).matches


def _oasst_release(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, BaseFolder]:
    for name, plain in files.items():
        base = generated(f"base {name}", len(plain) + 10)
        write(tmp_path / "llama_hf" / name, base)
        write(tmp_path / "xor" / name, oasst_reference(plain, base))
    return tmp_path / "xor", BaseFolder(tmp_path / "llama_hf")


def test_oasst_missing_base_file_fails_naming_it(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"config.json": CONFIG})
    (base.folder / "config.json").unlink()
    out = _out(tmp_path)
    with pytest.raises(MissingBaseFile) as caught:
        restore_patch(payloads / "config.json", base, out, format=OASST)
    assert "config.json" in str(caught.value)
    assert str(base.folder) in str(caught.value)
    assert all_names(out) == []


def test_oasst_wrong_base_md5_fails_before_any_final_name(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"pytorch_model.bin": WEIGHTS})
    out = _out(tmp_path)
    options = RestoreOptions(expected_base="0" * 32, base_hint="transformers d04ec99")
    with pytest.raises(BaseMismatch) as caught:
        restore_patch(payloads / "pytorch_model.bin", base, out, options, format=OASST)
    message = str(caught.value)
    assert "differs from the conversion the release was made against" in message
    assert "transformers d04ec99" in message
    assert message.startswith(str(base.folder / "pytorch_model.bin"))
    assert all_names(out) == []


def test_oasst_base_md5_covers_the_part_past_the_payload(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"config.json": CONFIG})
    whole = (base.folder / "config.json").read_bytes()
    out = _out(tmp_path)
    options = RestoreOptions(expected_base=md5(whole[: len(CONFIG)]))
    with pytest.raises(BaseMismatch):
        restore_patch(payloads / "config.json", base, out, options, format=OASST)
    result = restore_patch(
        payloads / "config.json", base, out, RestoreOptions(expected_base=md5(whole)),
        format=OASST,
    )  # fmt: skip
    assert result.checks == ["structure only", "base MD5"]


def test_oasst_wrong_base_fails_the_structure_check(tmp_path: Path) -> None:
    payloads, _ = _oasst_release(tmp_path, {"config.json": CONFIG})
    other = tmp_path / "other_hf"
    write(other / "config.json", generated("another conversion", 200))
    out = _out(tmp_path)
    with pytest.raises(StructureMismatch, match=r"not a valid UTF-8 JSON file.*base file"):
        restore_patch(payloads / "config.json", BaseFolder(other), out, format=OASST)
    assert all_names(out) == []


def test_oasst_broken_gzip_is_a_format_error(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"config.json": CONFIG})
    packed = gzip.compress((payloads / "config.json").read_bytes())
    (payloads / "config.json").write_bytes(packed[: len(packed) // 2])
    out = _out(tmp_path)
    with pytest.raises(PatchFormatError, match="not a complete gzip stream"):
        restore_patch(payloads / "config.json", base, out, format=OASST_GZIP)
    assert all_names(out) == []


def test_key_material_must_fit_the_format(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"config.json": CONFIG})
    key_path = write(tmp_path / "consolidated.00.pth", generated("seed", 100))
    out = _out(tmp_path)
    with pytest.raises(KeyFileError, match="base folder"):
        restore_patch(payloads / "config.json", KeySource(key_path), out, format=OASST)
    sha = hashlib.sha256(CONFIG).hexdigest()
    belle_patch = write(tmp_path / "enc" / f"config.json.{sha}.enc", bytes.fromhex(sha) + CONFIG)
    with pytest.raises(KeyFileError, match="key file, not a folder"):
        restore_patch(belle_patch, base, out)
    assert all_names(out) == []


def test_existing_output_without_checksum_counts_only_if_restored_here(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"config.json": CONFIG})
    out = _out(tmp_path)
    # Another tool's file in the way: its start cannot prove it whole.
    (out / "config.json").write_bytes(b"{")
    with pytest.raises(OutputExistsError):
        restore_patch(payloads / "config.json", base, out, format=OASST)
    assert (out / "config.json").read_bytes() == b"{"
    (out / "config.json").unlink()
    first = restore_patch(payloads / "config.json", base, out, format=OASST)
    again = restore_patch(payloads / "config.json", base, out, format=OASST)
    assert (first.status, again.status) == (RESTORED, ALREADY_RESTORED)
    assert again.checks == ["structure only"]


def test_techgpt_format_equals_the_headerless_option(tmp_path: Path) -> None:
    key_path = write(tmp_path / "key.pth", generated("key", 3000))
    source = write(tmp_path / "finetuned" / "config.json", CONFIG)
    enc = tmp_path / "enc"
    enc.mkdir()
    sealed = seal_file(source, KeySource(key_path), enc, format=TECHGPT)
    assert sealed.output.stat().st_size == len(CONFIG)
    out = _out(tmp_path)
    with pytest.raises(PatchFormatError, match="no MD5 is known"):
        restore_patch(sealed.output, KeySource(key_path), out, format=TECHGPT)
    options = RestoreOptions(expected_md5=md5(CONFIG))
    result = restore_patch(sealed.output, KeySource(key_path), out, options, format=TECHGPT)
    assert result.checks == ["MD5"]
    assert final_names(out) == ["config.json"]
    legacy = restore_patch(
        sealed.output, KeySource(key_path), out, RestoreOptions(md5(CONFIG), headerless=True)
    )
    assert legacy.status == ALREADY_RESTORED


def test_rerun_without_md5_keeps_a_structure_checked_output(tmp_path: Path) -> None:
    payloads, base = _oasst_release(tmp_path, {"config.json": CONFIG})
    out = _out(tmp_path)
    quick = RestoreOptions(compute_md5=False)
    first = restore_patch(payloads / "config.json", base, out, quick, format=OASST)
    again = restore_patch(payloads / "config.json", base, out, quick, format=OASST)
    assert (first.status, again.status) == (RESTORED, ALREADY_RESTORED)
    (out / "config.json").write_bytes(b"{}")
    with pytest.raises(OutputExistsError):
        restore_patch(payloads / "config.json", base, out, quick, format=OASST)
