"""Open-Assistant / PygmalionAI payloads at the command line: base files, lists, round trip."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from click.testing import Result

from conftest import generated
from formats_data import family_vectors, md5, oasst_reference, plain_bytes, torch_like, write
from helpers import all_names, final_names, run

VECTORS = family_vectors()
SMALL = [v for v in VECTORS["oasst"] if v["plain_size"] <= 8192]  # config.json and a shard
ADDED_TOKENS = VECTORS["oasst_added_tokens"]["content"].encode()
ENVIRONMENT = "transformers d04ec99, torch 1.13.1"


def _release(tmp_path: Path, *, gzipped: bool = False) -> Dict[str, Any]:
    """A payload folder made with the publisher's rule, its base folder, a JSON manifest."""
    payload, base = tmp_path / "payload", tmp_path / "llama_hf"
    plain: Dict[str, bytes] = {}
    bases: Dict[str, bytes] = {}
    for vector in SMALL:
        name = vector["name"]
        plain[name] = plain_bytes(vector["plain_label"], vector["plain_size"], name)
        bases[name] = generated(vector["base_label"], vector["base_size"])
        data = oasst_reference(plain[name], bases[name])
        write(payload / name, gzip.compress(data) if gzipped else data)
        write(base / name, bases[name])
    plain["added_tokens.json"] = ADDED_TOKENS
    write(payload / "added_tokens.json", gzip.compress(ADDED_TOKENS) if gzipped else ADDED_TOKENS)
    return {"payload": payload, "base": base, "plain": plain, "bases": bases}


def _decrypt(release: Dict[str, Any], out: Path, *extra: Any, only: str = "") -> Result:
    """decrypt the payload folder (or one file of it) with the release's base folder."""
    target = release["payload"] / only if only else release["payload"]
    return run("decrypt", target, "--base", release["base"], "--out", out, *extra)


def _manifest(
    tmp_path: Path,
    release: Dict[str, Any],
    base_md5: Optional[Dict[str, str]] = None,
    *,
    algorithm: str = "md5",
    files: bool = True,
) -> Path:
    """A JSON manifest of the release: MD5s, or SHA-256s as PygmalionAI publishes them."""
    digest = md5 if algorithm == "md5" else _sha256
    bases = base_md5 or {n: digest(d) for n, d in release["bases"].items()}
    document = {
        "schema": "belle-patch-release/1",
        "id": "test-oasst",
        "name": "test-oasst",
        "format": "oasst",
        "environment": ENVIRONMENT,
        "files": [
            {"name": n, algorithm: digest(d) if files else None}
            for n, d in release["plain"].items()
        ],
        "base_files": [{"name": n, algorithm: m} for n, m in bases.items()],
    }
    return write(tmp_path / f"{algorithm}-manifest.json", json.dumps(document).encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def release(tmp_path: Path) -> Dict[str, Any]:
    """The payload folder of the small vectors and added_tokens.json, with its base folder."""
    return _release(tmp_path)


@pytest.fixture
def md5_manifest(tmp_path: Path, release: Dict[str, Any]) -> Path:
    """The release's JSON manifest with MD5s, as Open-Assistant publishes them."""
    return _manifest(tmp_path, release)


@pytest.fixture
def sha256_manifest(tmp_path: Path, release: Dict[str, Any]) -> Path:
    """The release's JSON manifest with SHA-256s, as PygmalionAI publishes them."""
    return _manifest(tmp_path, release, algorithm="sha256")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The output folder, not created: decrypt makes it (or, refused, leaves it absent)."""
    return tmp_path / "out"


@pytest.mark.parametrize("vector", VECTORS["oasst"], ids=lambda vector: vector["name"])
def test_vector_restores_byte_exact_with_its_md5(
    vector: Dict[str, Any], tmp_path: Path, out: Path
) -> None:
    """Each vector (base shorter, base longer, same length) at the command line."""
    name = vector["name"]
    plain = plain_bytes(vector["plain_label"], vector["plain_size"], name)
    base = generated(vector["base_label"], vector["base_size"])
    assert md5(base) == vector["base_md5"]
    payload = write(tmp_path / "payload" / name, oasst_reference(plain, base))
    assert md5(payload.read_bytes()) == vector["payload_md5"]  # what xor_codec.py made
    write(tmp_path / "llama_hf" / name, base)
    document = {
        "schema": "belle-patch-release/1",
        "id": "test-oasst-vector",
        "name": "test-oasst-vector",
        "format": "oasst",
        "files": [{"name": name, "md5": vector["plain_md5"]}],
        "base_files": [{"name": name, "md5": vector["base_md5"]}],
    }
    listed = write(tmp_path / "manifest.json", json.dumps(document).encode())
    result = run(
        "decrypt", payload, "--base", tmp_path / "llama_hf", "--out", out, "--manifest", listed,
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (restored,) = json.loads(result.stdout)["restored"]
    assert restored["verified_by"] == "MD5"
    assert md5((out / name).read_bytes()) == vector["plain_md5"]
    assert final_names(out) == [name]


def test_right_base_with_lists_restores_every_file_verified(
    release: Dict[str, Any], md5_manifest: Path, out: Path
) -> None:
    result = _decrypt(release, out, "--manifest", md5_manifest, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "oasst"
    by_name = {Path(r["output"]).name: r for r in report["restored"]}
    # An output matching its MD5 proves its base right: the base is not hashed as well.
    assert by_name["config.json"]["checks"] == ["MD5"]
    assert by_name["config.json"]["verified_by"] == "MD5"
    assert by_name["added_tokens.json"]["checks"] == ["MD5"]
    for name, data in release["plain"].items():
        assert (out / name).read_bytes() == data


def test_text_lines_say_which_check_verified(release: Dict[str, Any], out: Path) -> None:
    result = run("decrypt", release["payload"], out, "--base", release["base"])  # INPUT OUTDIR
    assert result.exit_code == 1  # the vector's .bin is noise after the zip signature
    assert "restored config.json (" in result.stdout
    assert "verified by structure only; no published checksum" in result.stdout
    assert "note: 2 verified by structure only: added_tokens.json, config.json" in result.stdout
    assert "not a valid torch or ggml file" in result.stderr
    assert "pytorch_model-00002-of-00002.bin" not in final_names(out)


def test_wrong_base_file_fails_naming_the_environment(
    release: Dict[str, Any], md5_manifest: Path, out: Path
) -> None:
    write(release["base"] / "config.json", generated("another conversion", 480))
    result = _decrypt(release, out, "--manifest", md5_manifest)
    assert result.exit_code == 1
    assert (
        "this base file differs from the conversion the release was made against" in result.stderr
    )
    assert ENVIRONMENT in result.stderr
    assert str(release["base"] / "config.json") in result.stderr
    assert "config.json" not in final_names(out)
    assert "config.json" not in all_names(out)
    assert "added_tokens.json" in final_names(out)  # one base file says nothing of the others
    assert "1 failed" in result.stdout


@pytest.mark.parametrize(("algorithm", "label"), [("md5", "MD5"), ("sha256", "SHA-256")])
def test_base_without_an_output_checksum_is_checked_while_restoring(
    release: Dict[str, Any], out: Path, tmp_path: Path, algorithm: str, label: str
) -> None:
    manifest = _manifest(tmp_path, release, algorithm=algorithm, files=False)
    result = _decrypt(release, out, "--manifest", manifest, "--json", only="config.json")
    assert result.exit_code == 0, result.stderr
    (restored,) = json.loads(result.stdout)["restored"]
    assert restored["checks"] == ["structure only", f"base {label}"]
    assert restored["verified_by"] == "structure only"
    write(release["base"] / "config.json", release["bases"]["config.json"] + b"\0")
    result = _decrypt(release, tmp_path / "out2", "--manifest", manifest, only="config.json")
    assert result.exit_code == 1
    assert "this base file differs from the conversion" in result.stderr
    assert f"its {label} is " in result.stderr
    assert final_names(tmp_path / "out2") == []


def test_missing_base_file_fails_that_file_naming_it(
    release: Dict[str, Any], md5_manifest: Path, out: Path
) -> None:
    (release["base"] / "config.json").unlink()
    result = _decrypt(release, out, "--manifest", md5_manifest)
    assert result.exit_code == 1
    assert "the base file for config.json is missing" in result.stderr
    assert "config.json" not in all_names(out)
    assert sorted(final_names(out)) == sorted(n for n in release["plain"] if n != "config.json")


def test_added_tokens_is_copied_as_is(release: Dict[str, Any], out: Path) -> None:
    result = _decrypt(release, out, only="added_tokens.json")
    assert result.exit_code == 0, result.stderr
    assert (out / "added_tokens.json").read_bytes() == ADDED_TOKENS
    assert "restored added_tokens.json (" in result.stdout


def test_a_copied_file_that_differs_from_its_list_is_blamed_on_its_download(
    release: Dict[str, Any], md5_manifest: Path, out: Path
) -> None:
    write(release["payload"] / "added_tokens.json", ADDED_TOKENS + b" ")
    result = _decrypt(release, out, "--manifest", md5_manifest, only="added_tokens.json")
    assert result.exit_code == 1
    assert "this file has no base file and is copied as is, but its MD5" in result.stderr
    assert "download this file again" in result.stderr
    assert "base file (" not in result.stderr and "wrong base" not in result.stderr
    assert all_names(out) == []


def test_compressed_payloads(out: Path, tmp_path: Path) -> None:
    release = _release(tmp_path, gzipped=True)
    manifest = _manifest(tmp_path, release)
    result = _decrypt(release, out, "--manifest", manifest, "--compressed")
    assert result.exit_code == 0, result.stderr
    for name, data in release["plain"].items():
        assert (out / name).read_bytes() == data

    plain_out = tmp_path / "plain-out"
    result = _decrypt(release, plain_out, "--manifest", manifest)
    assert result.exit_code == 1
    assert final_names(plain_out) == []


def test_key_and_base_together_is_a_usage_error(
    release: Dict[str, Any], out: Path, tmp_path: Path
) -> None:
    key = write(tmp_path / "consolidated.00.pth", generated("k", 1000))
    result = run("decrypt", release["payload"], "--base", release["base"], "--key", key, "-o", out)
    assert result.exit_code == 2
    assert "--key and --base exclude each other" in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_output_into_the_payload_folder_is_refused(release: Dict[str, Any]) -> None:
    before = {p.name: p.read_bytes() for p in release["payload"].iterdir()}
    result = _decrypt(release, release["payload"])
    assert result.exit_code == 2
    assert "take the same names" in result.stderr
    assert {p.name: p.read_bytes() for p in release["payload"].iterdir()} == before


def test_encrypt_then_decrypt_round_trip(
    release: Dict[str, Any], out: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    weights = torch_like("oa-weights", 4096, 3000, archive="pytorch_model")
    for name, data in release["plain"].items():
        write(model / name, data)
    write(model / "pytorch_model-00009-of-00009.bin", weights)
    write(release["base"] / "pytorch_model-00009-of-00009.bin", generated("oa base 9", 2000))
    xor = tmp_path / "xor"
    result = run("encrypt", model, "--base", release["base"], "--out", xor)
    assert result.exit_code == 0, result.stderr
    for vector in SMALL:
        assert md5((xor / vector["name"]).read_bytes()) == vector["payload_md5"]
    assert (xor / "added_tokens.json").read_bytes() == ADDED_TOKENS
    manifest = json.loads((xor / "manifest.json").read_text())
    assert manifest["format"] == "oasst"

    result = run(
        "decrypt", xor, "--base", release["base"], "--out", out,
        "--manifest", xor / "manifest.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert final_names(out) == sorted(final_names(model))
    for path in model.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes()


def test_bundled_release_recognised_from_the_payload_folder(out: Path, tmp_path: Path) -> None:
    """Names of oasst-sft-6: its base MD5s are checked and its environment named."""
    payload = tmp_path / "oasst-sft-6-llama-30b-xor"
    base = tmp_path / "llama30b_hf"
    write(payload / "config.json", b"{}")
    write(payload / "generation_config.json", b"{}")
    write(base / "config.json", b"\0\0")
    write(base / "generation_config.json", b"\0\0")
    result = run("decrypt", payload, "--base", base, "--out", out)
    assert result.exit_code == 1
    assert "release: OpenAssistant/oasst-sft-6-llama-30b-xor (recognised" in result.stderr
    assert "this base file differs from the conversion" in result.stderr
    assert "d04ec99bec8a0b432fc03ed60cea9a1a20ebaf3c" in result.stderr
    assert final_names(out) == []


def test_api_report_names_the_format_and_what_structure_alone_verified(
    release: Dict[str, Any], out: Path
) -> None:
    import belle_patch

    report = belle_patch.decrypt(
        release["payload"] / "added_tokens.json", base=release["base"], out=out
    )
    assert report.ok and report.format == "oasst"
    assert [r.output.name for r in report.structure_only] == ["added_tokens.json"]
    assert report.not_verified == ()
    # One name shared with releases is not enough to hold this payload to their lists.
    assert report.release is None
    assert "no checksum list is known for these files" in report.published
    assert belle_patch.DecryptReport.verified_by(["MD5", "base MD5"]) == "MD5"


def test_sha256_lists_verify_restored_files(
    release: Dict[str, Any], sha256_manifest: Path, out: Path
) -> None:
    result = _decrypt(release, out, "--manifest", sha256_manifest, "--json")
    assert result.exit_code == 0, result.stderr
    by_name = {Path(r["output"]).name: r for r in json.loads(result.stdout)["restored"]}
    assert by_name["config.json"]["checks"] == ["SHA-256"]
    assert by_name["config.json"]["verified_by"] == "SHA-256"
    assert by_name["config.json"]["sha256"] == _sha256(release["plain"]["config.json"])
    for name, data in release["plain"].items():
        assert (out / name).read_bytes() == data
    again = run("verify", out, "--manifest", sha256_manifest)
    assert again.exit_code == 0, again.stderr


def test_wrong_base_against_sha256_lists_names_the_base_file(
    release: Dict[str, Any], sha256_manifest: Path, out: Path
) -> None:
    other = generated("another conversion", 480)
    write(release["base"] / "config.json", other)
    result = _decrypt(release, out, "--manifest", sha256_manifest, only="config.json")
    assert result.exit_code == 1
    listed = _sha256(release["bases"]["config.json"])
    assert (
        f"this base file differs from the conversion the release was made against (the release "
        f"names: {ENVIRONMENT}): its SHA-256 is {_sha256(other)}, the release lists {listed}"
    ) in result.stderr
    assert final_names(out) == [] and all_names(out) == []


def test_a_wrong_restored_sha256_fails_the_file(
    release: Dict[str, Any], sha256_manifest: Path, out: Path
) -> None:
    document = json.loads(sha256_manifest.read_text())
    for entry in document["files"]:
        if entry["name"] == "config.json":
            entry["sha256"] = "ab" * 32
    sha256_manifest.write_text(json.dumps(document))
    result = _decrypt(release, out, "--manifest", sha256_manifest, only="config.json")
    assert result.exit_code == 1
    assert "does not match the SHA-256 in the list" in result.stderr
    assert final_names(out) == [] and all_names(out) == []


def test_bundled_pygmalion_lists_use_only_confirmed_checksums() -> None:
    from belle_patch.expect.releases import find_release

    # pygmalion-docs' SHA-256s of merged folders are not confirmed for the uploads (for
    # metharme-13b the card lists others): a wrong list would fail good files.
    for release_id in ("metharme-7b", "metharme-13b"):
        release = find_release(release_id)
        assert release.restored_digests() == {}
        assert all(f.sha256 is None for f in release.files)
    metharme = find_release("metharme-13b")
    assert "special_tokens_map.json" not in {f.name for f in metharme.files}
    assert metharme.base_uncertain is True
    assert metharme.base_digests()["config.json"] == (
        "ad440bbb8f4af8f499a905f13b073ce3abbc3d4c43d5570ba2583eb296b74727"
    )
    assert find_release("metharme-7b").base_uncertain is False
    # Where the card publishes MD5s they are what decrypt checks.
    pygmalion = find_release("pygmalion-7b").restored_digests()
    assert pygmalion["pytorch_model-00001-of-00002.bin"] == "98764eb949eea16f8e2e1c2d3dea0066"


def test_an_assumed_base_list_never_fails_a_file(
    release: Dict[str, Any], md5_manifest: Path, out: Path
) -> None:
    """A release whose base list is only assumed (oasst-sft-7: SFT-6's) restores by structure,
    and says why the base files were not checked."""
    document = json.loads(md5_manifest.read_text())
    document["files"] = [{"name": n} for n in release["plain"]]
    document["base_uncertain"] = True
    md5_manifest.write_text(json.dumps(document))
    write(release["base"] / "config.json", release["bases"]["config.json"] + b"\0")
    result = _decrypt(release, out, "--manifest", md5_manifest, "--json", only="config.json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    (restored,) = report["restored"]
    assert restored["checks"] == ["structure only"]
    published = report["published"]
    assert "its base list is assumed, not confirmed, so base files are not checked" in published
    assert (out / "config.json").read_bytes() == release["plain"]["config.json"]


def test_output_restored_before_its_sha256_was_listed_counts_as_restored(
    release: Dict[str, Any], sha256_manifest: Path, out: Path
) -> None:
    patch = release["payload"] / "config.json"
    first = run("decrypt", patch, "--base", release["base"], "--out", out)  # structure only
    assert first.exit_code == 0, first.stderr
    again = run(
        "decrypt", patch, "--base", release["base"], "--out", out, "--manifest", sha256_manifest,
        "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    (restored,) = json.loads(again.stdout)["restored"]
    assert restored["status"] == "already restored"
    assert restored["sha256"] == _sha256(release["plain"]["config.json"])
    # A changed file is still refused, not taken as restored.
    write(out / "config.json", release["plain"]["config.json"] + b" ")
    changed = run(
        "decrypt", patch, "--base", release["base"], "--out", out, "--manifest", sha256_manifest
    )
    assert changed.exit_code == 1
    assert "an output that does not verify is in the way" in changed.stderr


def test_verify_names_only_the_files_a_sha256_list_leaves_unchecked(
    release: Dict[str, Any], sha256_manifest: Path, out: Path
) -> None:
    document = json.loads(sha256_manifest.read_text())
    for entry in document["files"]:
        if entry["name"] == "added_tokens.json":
            entry["sha256"] = None
    sha256_manifest.write_text(json.dumps(document))
    restored = _decrypt(release, out)
    assert restored.exit_code == 1  # the vector's .bin is noise: structure alone fails it
    result = run(
        "verify", out / "config.json", out / "added_tokens.json", "--manifest", sha256_manifest
    )
    assert "config.json: OK" in result.stdout.splitlines()
    assert (
        "test-oasst publishes no checksum for 1 of its files, which were not checked: "
        "added_tokens.json"
    ) in result.stderr


def test_text_line_names_the_base_sha256_check(
    release: Dict[str, Any], out: Path, tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path, release, algorithm="sha256", files=False)
    result = _decrypt(release, out, "--manifest", manifest, only="config.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "restored config.json (502 B, verified by structure only + base SHA-256; "
        "no published checksum)"
    )


def test_common_names_alone_do_not_pull_in_a_release_base_list(
    release: Dict[str, Any], tmp_path: Path
) -> None:
    """A payload of one's own, made against another conversion, named like every HF model."""
    write(release["payload"] / "generation_config.json", b"{}")
    write(release["base"] / "generation_config.json", b"\0\0")
    result = run(
        "decrypt", release["payload"] / "config.json", release["payload"] / "added_tokens.json",
        release["payload"] / "generation_config.json", "--base", release["base"],
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "this base file differs" not in result.stderr
    assert "release:" not in result.stderr
    assert "no checksum list is known for these files" in result.stderr
    assert (tmp_path / "out" / "config.json").read_bytes() == release["plain"]["config.json"]
