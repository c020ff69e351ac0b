"""The README's Python API examples run as written, on a small release made here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import generated
from helpers import default_files, make_release

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _python_blocks() -> list[str]:
    start = README.index("## Python API")
    end = README.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", README[start:end], re.DOTALL)


def test_the_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    release = make_release(tmp_path / "made", default_files(), generated("api key", 4000))
    monkeypatch.chdir(tmp_path)
    release.enc_dir.rename(tmp_path / "enc")
    release.key.rename(tmp_path / "consolidated.00.pth")
    release.md5_list.rename(tmp_path / "md5sums.txt")
    restore, check = _python_blocks()
    exec(compile(restore, "README restore example", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["3 restored, 0 failed, ok=True"]
    with pytest.raises(SystemExit) as passed:
        exec(compile(check, "README verify example", "exec"), {})
    assert passed.value.code == 0
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as failed:
        exec(compile(check, "README verify example", "exec"), {})
    assert failed.value.code == 1
    assert "config.json: FAILED" in capsys.readouterr().err
