"""The Python API takes one path as well as a list, and names the argument of a wrong type."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict

import pytest

import belle_patch


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"alpha")
    (folder / "b.bin").write_bytes(b"beta")
    listing = f"{hashlib.md5(b'alpha').hexdigest()}  a.bin\n{'0' * 32}  b.bin\n"
    (tmp_path / "list.md5").write_text(listing)
    return folder


def _verdicts(report: belle_patch.VerifyReport) -> Dict[str, str]:
    return {check.name: check.status for check in report.files}


@pytest.mark.parametrize("form", ["str", "Path", "tuple", "generator"])
def test_verify_takes_one_path_as_well_as_a_list(tmp_path: Path, form: str) -> None:
    folder = _folder(tmp_path)
    manifest = tmp_path / "list.md5"
    paths: Any = {
        "str": str(folder),
        "Path": folder,
        "tuple": (str(folder),),
        "generator": (p for p in [folder]),
    }[form]
    report = belle_patch.verify(paths, manifest=str(manifest))
    # A string iterated one character at a time would look for folders "/", "t", "m" ...
    assert _verdicts(report) == {"a.bin": "OK", "b.bin": "FAILED"}
    assert _verdicts(report) == _verdicts(belle_patch.verify([folder], manifest=manifest))


VERIFY_MISTAKES = [
    ({"paths": 5}, r"verify\(\): paths must be a path .* not int"),
    ({"paths": [5]}, r"verify\(\): paths\[0\] must be a path .* not int"),
    ({"paths": ["ok", 2.5]}, r"paths\[1\] .* not float"),
    ({"paths": b"model"}, r"paths must be a str or os.PathLike path, not bytes"),
    ({"jobs": "2"}, r"verify\(\): jobs must be an int or None, not str"),
    ({"jobs": True}, r"jobs must be an int or None, not bool"),
    ({"manifest": 5}, r"verify\(\): manifest must be a path .* or None, not int"),
    ({"release": 7}, r"release must be a str or None, not int"),
    ({"revision": b"main"}, r"revision must be a str or None, not bytes"),
    ({"strict": "no"}, r"strict must be True or False, not str"),
    ({"full": 1}, r"full must be True or False, not int"),
    ({"progress": print}, r"progress must be None or an object .* lacks started"),
]


@pytest.mark.parametrize(("change", "message"), VERIFY_MISTAKES)
def test_verify_names_the_argument_of_a_wrong_type(
    tmp_path: Path, change: Dict[str, Any], message: str
) -> None:
    folder = _folder(tmp_path)
    arguments: Dict[str, Any] = {"paths": [folder], "manifest": tmp_path / "list.md5"}
    if "release" in change or "revision" in change:
        arguments.pop("manifest")
    arguments.update(change)
    paths = arguments.pop("paths")
    with pytest.raises(TypeError, match=message):
        belle_patch.verify(paths, **arguments)


def test_a_progress_object_with_every_method_is_accepted_without_subclassing(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path)
    seen = []

    class Own:
        def started(self, files: int, total_bytes: int, jobs: int) -> None:
            seen.append(files)

        def note(self, message: str) -> None:
            pass

        def file_started(self, path: Path, size: int) -> None:
            pass

        def advanced(self, nbytes: int) -> None:
            pass

        def file_done(self, outcome: object) -> None:
            pass

    belle_patch.verify(folder, manifest=tmp_path / "list.md5", progress=Own())
    assert seen == [2]


JOB_MISTAKES = [
    ("decrypt", {"inputs": 3}, r"decrypt\(\): inputs must be a path .* not int"),
    ("decrypt", {"inputs": [Path("x.enc"), 3]}, r"decrypt\(\): inputs\[1\] .* not int"),
    ("decrypt", {"out": None}, r"decrypt\(\): out must be a path .* not NoneType"),
    ("decrypt", {"key": 12}, r"decrypt\(\): key must be a path .* or None, not int"),
    ("decrypt", {"manifest": 5}, r"decrypt\(\): manifest must be a path"),
    ("decrypt", {"jobs": "2"}, r"decrypt\(\): jobs must be an int or None, not str"),
    ("decrypt", {"force": "yes"}, r"decrypt\(\): force must be True or False, not str"),
    ("decrypt", {"release": 1}, r"decrypt\(\): release must be a str or None"),
    ("encrypt", {"inputs": 3}, r"encrypt\(\): inputs must be a path .* not int"),
    ("encrypt", {"out": 4}, r"encrypt\(\): out must be a path .* not int"),
    ("encrypt", {"base": 4}, r"encrypt\(\): base must be a path .* or None, not int"),
    ("encrypt", {"name": 4}, r"encrypt\(\): name must be a str or None, not int"),
    ("encrypt", {"jobs": 2.0}, r"encrypt\(\): jobs must be an int or None, not float"),
    ("encrypt", {"lists": None}, r"encrypt\(\): lists must be True or False, not NoneType"),
    ("encrypt", {"progress": 1}, r"encrypt\(\): progress must be None or an object"),
]


@pytest.mark.parametrize(("job", "change", "message"), JOB_MISTAKES)
def test_decrypt_and_encrypt_name_the_argument_before_any_work(
    tmp_path: Path, job: str, change: Dict[str, Any], message: str
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "config.json").write_text("{}")
    key = tmp_path / "key"
    key.write_bytes(bytes(range(256)) * 64)
    out = tmp_path / "out"
    arguments: Dict[str, Any] = {"inputs": [source], "key": key, "out": out, **change}
    inputs = arguments.pop("inputs")
    with pytest.raises(TypeError, match=message):
        getattr(belle_patch, job)(inputs, **arguments)
    assert not out.exists()  # refused before the output folder was made
