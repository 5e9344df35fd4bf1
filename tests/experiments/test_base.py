"""Tests of distill_lib.experiments.base: content keys, step folders, records that verify their files."""

from __future__ import annotations

import json

import pytest
from conftest import run_step

from distill_lib.experiments import world
from distill_lib.experiments.base import RECORD_FILE, load_step, read_step, step_folder, step_key

PARAMS = {"seed": 1, "teacher_hidden": 16, "n_states": 60}
data = world  # the world step: the simplest experiment, and one every other reads


def test_key_follows_the_step_parameters_and_only_them():
    key = step_key(data.EXPERIMENT, "world", PARAMS)
    assert step_key(data.EXPERIMENT, "world", dict(PARAMS)) == key
    assert step_key(data.EXPERIMENT, "world", {**PARAMS, "epochs": 99, "work_dir": "elsewhere"}) == key  # not data's
    assert step_key(data.EXPERIMENT, "world", {**PARAMS, "seed": 2}) != key
    assert step_key(data.EXPERIMENT, "world", {**PARAMS, "n_states": 61}) != key
    assert step_key(data.EXPERIMENT, "other", PARAMS) != key


def test_a_file_is_identified_by_its_content_not_its_path(tmp_path):
    import numpy as np
    import torch

    from distill_lib.core.networks import build_teacher

    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        np.save(folder / "s.npy", np.zeros((5, 8), np.float32))
        torch.save(build_teacher(0, 8, 16, 4).state_dict(), folder / "t.pt")
    files = {"source": "file", "teacher_hidden": 16, "n_states": 5}
    key_a = step_key(
        data.EXPERIMENT, "data", {**files, "states_file": str(a / "s.npy"), "teacher_checkpoint": str(a / "t.pt")}
    )
    key_b = step_key(
        data.EXPERIMENT, "data", {**files, "states_file": str(b / "s.npy"), "teacher_checkpoint": str(b / "t.pt")}
    )
    assert key_a == key_b
    np.save(b / "s.npy", np.ones((5, 8), np.float32))
    key_c = step_key(
        data.EXPERIMENT, "data", {**files, "states_file": str(b / "s.npy"), "teacher_checkpoint": str(b / "t.pt")}
    )
    assert key_c != key_a


def test_the_keys_of_the_steps_a_step_reads_are_part_of_its_key(tmp_path):
    from distill_lib.experiments import comparison

    params = {**PARAMS, "mode": "blended", "alpha": 0.7}
    one = step_key(comparison.EXPERIMENT, "blended", params, {"world": tmp_path / "world" / "world-aaaa"})
    other = step_key(comparison.EXPERIMENT, "blended", params, {"world": tmp_path / "world" / "world-bbbb"})
    elsewhere = step_key(comparison.EXPERIMENT, "blended", params, {"world": tmp_path / "x" / "world-aaaa"})
    assert one != other and one == elsewhere  # the step read, by its name and key, wherever the work folder is


def test_execute_writes_the_record_last_and_load_step_verifies_the_files(tmp_path):
    record, folder = run_step(data.EXPERIMENT, PARAMS, tmp_path)
    assert folder == step_folder(tmp_path, data.EXPERIMENT, "world", PARAMS)
    assert folder.name == f"world-{step_key(data.EXPERIMENT, 'world', PARAMS)}"
    assert load_step(folder, data.EXPERIMENT) == record
    envelope = json.loads((folder / RECORD_FILE).read_text())
    assert set(envelope["files"]) == {"teacher.pt", "states.npy", "student_init.pt"}
    assert {"commit", "code_hash"} <= set(envelope["provenance"])

    (folder / "states.npy").write_bytes((folder / "states.npy").read_bytes()[:100])  # damaged
    assert load_step(folder, data.EXPERIMENT) is None and read_step(folder, "world") is None
    assert load_step(folder, data.EXPERIMENT, verify=False) == record


@pytest.mark.parametrize("damage", ["truncate", "edit_key", "other_experiment", "not_json"])
def test_a_record_that_does_not_belong_to_its_folder_is_not_a_finished_step(tmp_path, damage):
    _, folder = run_step(data.EXPERIMENT, PARAMS, tmp_path)
    path = folder / RECORD_FILE
    envelope = json.loads(path.read_text())
    if damage == "truncate":
        path.write_text(path.read_text()[:50])
    elif damage == "edit_key":
        envelope["key"] = "0" * 16
        path.write_text(json.dumps(envelope))
    elif damage == "other_experiment":
        envelope["experiment"] = "seeds"
        path.write_text(json.dumps(envelope))
    else:
        path.write_text("[]")
    assert load_step(folder, data.EXPERIMENT) is None
