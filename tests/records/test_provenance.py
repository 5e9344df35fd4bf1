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


def test_dirty_means_a_change_outside_reports(tmp_path, monkeypatch) -> None:
    import subprocess

    from distill_lib.records import provenance as prov

    repo = tmp_path / "repo"
    (repo / "distill_lib").mkdir(parents=True)
    (repo / "reports").mkdir()
    for f in ("distill_lib/x.py", "reports/results.json"):
        (repo / f).write_text("0")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    monkeypatch.setattr(prov, "_PACKAGE_DIR", repo / "distill_lib")
    dirty = prov.git_commit.__wrapped__  # uncached: the package's own answer is cached per process
    assert dirty()["dirty"] is False
    (repo / "reports" / "results.json").write_text("1")  # a study's own output
    assert dirty()["dirty"] is False
    (repo / "distill_lib" / "x.py").write_text("1")  # the code
    assert dirty()["dirty"] is True
