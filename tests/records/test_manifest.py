"""Tests of distill_lib.records.manifest: a sealed list of files is trusted only while nothing in it changed."""

from __future__ import annotations

import pytest

from distill_lib.records.manifest import changed, hash_files, json_sha256, seal, unseal


def test_a_seal_covers_everything_in_the_manifest():
    data = {"key": "abc", "files": {"a.txt": "0" * 64, "b.txt": "1" * 64}}
    sealed = seal(data)
    assert unseal(sealed) == data
    for tampered in (
        {**sealed, "key": "abd"},  # an edited field
        {**sealed, "files": {"a.txt": "0" * 64}},  # an entry removed from the list
        {k: v for k, v in sealed.items() if k != "sha256"},  # no seal
        {**sealed, "sha256": 3},
    ):
        assert unseal(tampered) is None
    assert unseal([sealed]) is None and unseal(None) is None and unseal({"sha256": "x", "n": float("nan")}) is None


def test_a_manifest_may_not_hold_its_own_seal():
    with pytest.raises(ValueError, match="sha256"):
        seal({"sha256": "x"})


def test_json_sha256_ignores_key_order_only():
    assert json_sha256({"a": 1, "b": [1, 2]}) == json_sha256({"b": [1, 2], "a": 1})
    assert json_sha256({"a": 1}) != json_sha256({"a": 1.5})


def test_changed_names_missing_and_altered_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.txt", "sub/b.png", "c.md"):
        (tmp_path / name).write_text(name)
    files = hash_files(tmp_path, ["a.txt", "sub/b.png", "c.md"])
    assert changed(tmp_path, files) == []
    (tmp_path / "a.txt").write_text("edited")
    (tmp_path / "sub" / "b.png").unlink()
    (tmp_path / "c.md").write_text("c.md")  # rewritten with the same bytes: unchanged
    assert changed(tmp_path, files) == ["a.txt", "sub/b.png"]
    (tmp_path / "c.md").unlink()
    (tmp_path / "c.md").mkdir()  # a folder where a file was
    assert "c.md" in changed(tmp_path, files)
