"""Tests of distill_lib.records.provenance: keys are stable and say what they hash."""

from distill_lib.records.provenance import code_hash, content_key, file_sha256, provenance


def test_content_key_is_stable_and_order_free_in_mappings():
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2}) and len(content_key("x")) == 16


def test_file_hash_and_code_hash(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    assert file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert len(code_hash()) == 64 and code_hash() == code_hash()


def test_provenance_names_commit_versions_and_no_time():
    p = provenance()
    assert {"commit", "dirty", "code_hash", "python", "versions"} <= set(p)
    assert "torch" in p["versions"] and "timing" not in p
