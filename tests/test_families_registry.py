"""The bundled OpenBuddy and Open-Assistant / PygmalionAI releases, and how they are shown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from belle_patch.expect.keys import seed_md5
from belle_patch.expect.releases import (
    FAMILY_FOLDER,
    bundled_releases,
    find_release,
    releases_by_restored_names,
)
from belle_patch.formats.families import OASST, OPENBUDDY

from helpers import run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_family_manifests

FAMILY_IDS = {
    "openbuddy-7b-v1.0-bf16-enc", "openbuddy-llama-7b-v4-fp16", "openbuddy-30b-ggml",
    "oasst-sft-6-llama-30b-xor", "oasst-sft-7-llama-30b-xor",
    "oasst-rlhf-2-llama-30b-7k-steps-xor", "pygmalion-7b", "metharme-7b", "metharme-13b",
}  # fmt: skip


def test_family_manifests_are_what_the_script_makes() -> None:
    data = json.loads(build_family_manifests.DEFAULT_DATA.read_text())
    expected = build_family_manifests.build_all(data)
    shipped = {p.name: p.read_text() for p in FAMILY_FOLDER.glob("*.json")}
    assert shipped == expected


def test_every_family_release_is_bundled_with_its_format() -> None:
    by_id = {r.id: r for r in bundled_releases()}
    assert set(by_id) >= FAMILY_IDS
    assert {by_id[i].format for i in FAMILY_IDS} == {"openbuddy", "oasst"}


def test_sft6_lists_outputs_base_and_environment() -> None:
    release = find_release("OpenAssistant/oasst-sft-6-llama-30b-xor")
    assert release.complete
    assert release.restored_digests()["added_tokens.json"] == "27b0dc092f99aa2efaf467b2d8026c3f"
    assert release.base_digests()["pytorch_model-00001-of-00007.bin"] == (
        "9cffb1aeba11b16da84b56abb773d099"
    )
    assert len(release.base_digests()) == 14
    assert "d04ec99bec8a0b432fc03ed60cea9a1a20ebaf3c" in release.environment
    assert "torch 1.13.1" in release.environment


def test_openbuddy_releases_publish_no_restored_checksums() -> None:
    release = find_release("openbuddy-30b-ggml")
    assert not release.publishes_restored_checksums
    assert not release.complete
    shas = {f.enc_name: f.enc_sha256 for f in release.files}
    assert shas["30b-v1.3-q4_0.bin.enc"] == (
        "d0b1f527b2af218c30fb762f4c9c5187bf807d78f93e7f2f8622ddc58aebeabf"
    )


def test_openbuddy_seed_md5_is_read_from_the_known_keys() -> None:
    """The seed MD5 the OpenBuddy format checks is data: the known key's first 16 MiB, the same
    MD5 every bundled OpenBuddy release records."""
    recorded = {r.key.seed_md5 for r in bundled_releases() if r.patch_format is OPENBUDDY}
    assert recorded == {seed_md5(OPENBUDDY)}
    assert all(r.key.needs == OPENBUDDY.seed_key for r in bundled_releases() if r.key.seed_md5)


def test_oasst_names_do_not_change_bellelike_detection() -> None:
    """A BELLE-like lookup by restored names never returns a family release."""
    names = ["config.json", "pytorch_model-00001-of-00002.bin", "tokenizer.model"]
    assert all(r.format in ("header", "no-header") for r in releases_by_restored_names(names))
    found = releases_by_restored_names(names, formats=(OASST,))
    assert {r.id for r in found} >= {"pygmalion-7b", "metharme-7b"}


def test_releases_text_says_what_is_not_published() -> None:
    result = run("releases")
    assert result.exit_code == 0
    assert result.stderr == ""
    block = result.stdout.split("openbuddy-llama-7b-v4-fp16  (")[1].split("\n\n")[0]
    assert "no checksums of the restored files are known" in block
    assert "key seed: MD5 of the first 16 MiB 08cf0f43451cc4ae056e0b19e56c1fcf" in result.stdout
    sft6 = result.stdout.split("oasst-sft-6-llama-30b-xor  (")[1].split("\n", 8)
    assert any("base files: 14; MD5s: 14" in line for line in sft6)
    assert "conversion environment: Linux, Python 3.10, transformers at commit d04ec99" in (
        result.stdout
    )
    metharme = result.stdout.split("metharme-13b  (")[1].split("\n")[:9]
    assert any("base files: 9; MD5s: 0, SHA-256s: 9 (assumed" in line for line in metharme)


def test_releases_json_has_base_files_environment_and_completeness() -> None:
    result = run("releases", "--json")
    assert result.exit_code == 0
    by_id = {r["id"]: r for r in json.loads(result.stdout)}
    sft7 = by_id["oasst-sft-7-llama-30b-xor"]
    assert sft7["format"] == "oasst"
    assert sft7["publishes_restored_checksums"] is False
    assert sft7["base_uncertain"] is True
    assert len(sft7["base_files"]) == 14
    assert by_id["pygmalion-7b"]["base_files"][0]["sha256"]
    assert by_id["openbuddy-7b-v1.0-bf16-enc"]["files"][0]["enc_name"].endswith(".bin.enc")
    assert by_id["belle-llama-13b-2m-enc"]["environment"] is None
