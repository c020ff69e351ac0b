"""The Python API examples of docs/python-api.md run as written, on a small release made here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import generated
from helpers import default_files, make_release

PAGE = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.DOTALL | re.MULTILINE)


def test_the_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = default_files()
    release = make_release(tmp_path / "made", files, generated("api key", 4000))
    monkeypatch.chdir(tmp_path)
    release.enc_dir.rename(tmp_path / "enc")
    release.key.rename(tmp_path / "consolidated.00.pth")
    release.md5_list.rename(tmp_path / "md5sums.txt")
    restore, check, publish, listing, cache = _python_blocks()

    exec(compile(restore, "python-api.md restore example", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["3 restored, 0 failed, ok=True"]

    with pytest.raises(SystemExit) as passed:
        exec(compile(check, "python-api.md verify example", "exec"), {})
    assert passed.value.code == 0

    exec(compile(publish, "python-api.md encrypt example", "exec"), {})
    size = sum(len(data) for data in files.values())
    assert capsys.readouterr().out.splitlines() == [
        f"3 encrypted, ok=True, {size} bytes",
        "lists: md5sums-enc.txt, md5sums.txt, manifest.json",
    ]
    assert sorted(p.name for p in (tmp_path / "model-enc").glob("*.enc")) == sorted(
        p.name for p in (tmp_path / "enc").iterdir()
    )

    exec(compile(listing, "python-api.md releases example", "exec"), {})
    shown = capsys.readouterr().out.splitlines()
    assert "belle-llama-13b-2m-enc: LLaMA-1 13B consolidated.00.pth" in "\n".join(shown)
    assert len(shown) >= 10

    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as failed:
        exec(compile(check, "python-api.md verify example", "exec"), {})
    assert failed.value.code == 1
    assert "config.json: FAILED" in capsys.readouterr().err

    exec(compile(cache, "python-api.md whole cache example", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["0 repos, 0 revisions, ok=False"]
