import numpy as np
import pytest
import torch

from distill_lib.core.data import load_state_dict, synthetic_states
from distill_lib.experiments.artifacts import load_data, prepare_data
from distill_lib.records.atomic import atomic_write_text

PARAMS = dict(
    seed=1,
    input_dim=8,
    output_dim=4,
    teacher_hidden=16,
    student_hidden=None,
    n_states=100,
    source="synthetic",
    states_file=None,
    teacher_checkpoint=None,
)


def test_synthetic_states_are_the_seed_compatible_gaussians():
    s = synthetic_states(42, 5, 8)
    assert s.dtype == np.float32 and s.shape == (5, 8)
    assert np.array_equal(s, np.random.default_rng(10042).standard_normal((5, 8)).astype(np.float32))


def test_data_folder_round_trip_and_tamper_check(tmp_path):
    world = prepare_data(PARAMS, tmp_path)
    again = load_data(tmp_path)
    assert np.array_equal(world.states, again.states)
    assert all(
        torch.equal(a, b)
        for a, b in zip(world.teacher.state_dict().values(), again.teacher.state_dict().values(), strict=True)
    )
    assert not again.teacher.training
    np.save(tmp_path / "states.npy", np.zeros((100, 8), np.float32))
    with pytest.raises(ValueError, match="states.npy is missing or changed"):
        load_data(tmp_path)


def test_data_folder_must_match_the_run(tmp_path):
    from distill_lib import RunConfig

    prepare_data(PARAMS, tmp_path)
    with pytest.raises(ValueError, match="seed=2, but the data .* was made with seed=1"):
        load_data(tmp_path, expect=RunConfig(seed=2, teacher_hidden=16, n_states=100))
    with pytest.raises(ValueError, match="run the data notebook"):
        load_data(tmp_path / "nothing")


def test_bad_values_fail_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="n_states=1"):
        prepare_data({**PARAMS, "n_states": 1}, tmp_path / "d")
    with pytest.raises(ValueError, match="source='web'"):
        prepare_data({**PARAMS, "source": "web"}, tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_checkpoints_load_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import os; open('" + str(tmp_path / "owned") + "', 'w')",))

    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights-only"):
        load_state_dict(tmp_path / "evil.pt")
    assert not (tmp_path / "owned").exists()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    from distill_lib.records.atomic import atomic_path

    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
