"""Tests of distill_lib.records.atomic: a crash leaves the old file or the new one, never half."""

import json

import pytest

from distill_lib.records.atomic import atomic_path, atomic_write_json, atomic_write_text, read_json


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_json_is_key_sorted_and_read_back(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, None]})
    assert (tmp_path / "a.json").read_text() == json.dumps({"a": [1.5, None], "b": 1}, indent=2, sort_keys=True) + "\n"
    assert read_json(tmp_path / "a.json") == {"a": [1.5, None], "b": 1}
    (tmp_path / "bad.json").write_text("{half")
    assert read_json(tmp_path / "bad.json") is None and read_json(tmp_path / "absent.json") is None
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "nan.json", {"x": float("nan")})  # JSON has no NaN
    assert not (tmp_path / "nan.json").exists()
