"""Bad input: one line naming the parameter or file, the value and what is allowed; exit 2;
no traceback; nothing written. Most cases call the command's entry point in-process (the
same code path as the console script); a few run it as a subprocess end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ROOT, SMOKE, run_cli

from distill_lib.core.networks import build_teacher
from distill_lib.runner.cli import main

REF = str(ROOT / "params" / "reference.yaml")


def _fails(capsys, out, *args: str, expect: list[str]) -> None:
    code = main(["run", *SMOKE, *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("distill-study: error: "), err
    for fragment in expect:
        assert fragment in lines[0], (fragment, lines[0])
    assert not out.exists()  # nothing written, not even the folder


@pytest.mark.parametrize(
    "name, value, expect",
    [
        ("alpha", "1.5", ["alpha=1.5", "[0, 1]"]),
        ("alpha", "-0.2", ["alpha=-0.2", "[0, 1]"]),
        ("temperature", "0", ["temperature=0.0", "(0, 1000]"]),
        ("temperature", "-1", ["temperature=-1.0", "(0, 1000]"]),
        ("temp_decay", "1.5", ["temp_decay=1.5", "(0, 1]"]),
        ("temp_decay", "0", ["temp_decay=0.0", "(0, 1]"]),
        ("epochs", "0", ["epochs=0", "[1, 100000]"]),
        ("batch_size", "0", ["batch_size=0", "[1, "]),
        ("val_fraction", "1.0", ["val_fraction=1.0", "[0, 1)"]),
        ("val_fraction", "-0.5", ["val_fraction=-0.5", "[0, 1)"]),
        ("n_states", "1", ["n_states=1", "[2, "]),
        ("loss_fn", "huber", ["loss_fn='huber'", "kl, mse"]),
        ("modes", "[hard_only, softonly]", ["'softonly'", "hard_only, blended, soft_only"]),
        ("aplha", "0.5", ["unknown parameter 'aplha'", "did you mean 'alpha'"]),
        ("epochs", "ten", ["epochs='ten'", "integer"]),
        ("lr", "fast", ["lr='fast'", "number"]),
        ("mode", "hard_only", ["mode='hard_only'", "modes"]),
        ("world_seeds", "[3]", ["world_seeds=[3]", "at least 2 seeds"]),
        ("world_seeds", "[1, 1]", ["world_seeds=[1, 1]", "listed twice"]),
        ("training_seeds", "[a, b]", ["training_seeds", "list of integers"]),
        ("sweep_alphas", "[0.5, 1.5]", ["sweep_alphas", "1.5 is outside [0, 1]"]),
        ("sweep_temperatures", "[0, 1]", ["sweep_temperatures=[0.0, 1.0]", "0.0 is outside (0, 1000]"]),
        ("sweep_mse", "maybe", ["sweep_mse='maybe'", "true or false"]),
        ("n_bins", "0", ["n_bins=0", ">= 1"]),
        ("n_bins", "31", ["n_bins=31", "[1, 30]"]),
        ("sweep_temperature", "2", ["sweep_temperature=2", "sweep_temperatures"]),
        ("buffer_epsilon", "1.5", ["buffer_epsilon=1.5", "[0, 1]"]),
        ("real_task_widths", "[8, 0]", ["real_task_widths", "0"]),
        ("test_episodes", "1", ["test_episodes=1"]),
        (
            "source",
            "task",
            ["input_dim=8", "source='task' takes the sizes of CartPole-v1's teacher", "params/cartpole.yaml"],
        ),
        ("source", "web", ["source='web'", "synthetic, task, file"]),
        ("seed", "4294967296", ["seed=4294967296", "[0, 4294937295]"]),
        ("seed", "-10001", ["seed=-10001", "[0, 4294937295]"]),
        ("seed", "1e20", ["seed='1e20'", "expected an integer"]),
        ("world_seeds", "[0, 4294967296]", ["world_seeds=", "4294967296 is outside [0, 4294937295]"]),
        ("real_task_seeds", "[-1, 0]", ["real_task_seeds=", "-1 is outside"]),
        ("lr", "1e30", ["lr=1e+30", "(0, 1]"]),
        ("temperature", "1e300", ["temperature=1e+300", "(0, 1000]"]),
        ("temp_decay", "1e-300", ["temp_decay=1e-300", "takes the temperature to 3e-300", ">= 0.001"]),
        ("alpha", "0", ["alpha=0.0", "blended objective's alpha"]),
        ("val_fraction", "-0.0", ["n_bins=5", "n_states=300 x val_fraction=0 gives 1"]),
        ("device", "tpu", ["device='tpu'", "one of cpu"]),
    ],
)
def test_bad_parameter(capsys, tmp_path, name, value, expect):
    _fails(capsys, tmp_path / "out", "-p", name, value, expect=expect)


def test_yaml_1_1_number_strings_are_numbers(tmp_path):
    from distill_lib.runner.params import load_yaml

    f = tmp_path / "p.yaml"
    f.write_text("lr: 1e-3\nalpha: .5\nepochs: 3\n")
    assert load_yaml(f) == {"lr": 0.001, "alpha": 0.5, "epochs": 3}
    f.write_text("epochs: 1e3\n")
    with pytest.raises(ValueError, match="epochs='1e3': expected an integer"):
        load_yaml(f)


@pytest.mark.parametrize(
    "content, expect",
    [
        (None, ["no such file"]),
        ("- a\n- b\n", ["expected a mapping", "list"]),
        ("seed: [1, 2\n", ["malformed YAML", "line"]),
        ("seed: 3\ntemprature: 2\n", ["unknown parameter 'temprature'", "did you mean 'temperature'"]),
        ("epochs: ten\n", ["epochs='ten'"]),
        (b"\xff\xfe\x00bad", ["cannot be read"]),
    ],
)
def test_bad_params_file(capsys, tmp_path, content, expect):
    f = tmp_path / "params.yaml"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    _fails(capsys, tmp_path / "out", "-f", str(f), expect=[str(f), *expect])


def test_unreadable_params_file(capsys, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    f = tmp_path / "params.yaml"
    f.write_text("seed: 1\n")
    f.chmod(0)
    _fails(capsys, tmp_path / "out", "-f", str(f), expect=["cannot be read"])


@pytest.fixture
def good_files(tmp_path):
    states = tmp_path / "states.npy"
    np.save(states, np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32))
    ckpt = tmp_path / "teacher.pt"
    torch.save(build_teacher(0, 8, 16, 4).state_dict(), ckpt)
    return states, ckpt


def _file_args(states, ckpt):
    return ["-p", "source", "file", "-p", "states_file", str(states), "-p", "teacher_checkpoint", str(ckpt)]


def test_good_files_pass_validation(good_files, tmp_path):
    from distill_lib.runner.plan import plan_study

    plan = plan_study(
        [REF, str(ROOT / "params" / "smoke.yaml")],
        [("source", "file"), ("states_file", str(good_files[0])), ("teacher_checkpoint", str(good_files[1]))],
        tmp_path,
    )
    assert plan.params["n_states"] == 300


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda p: None, ["states_file=", "no such file"]),
        (lambda p: p.write_text("not numpy"), ["not a readable .npy array"]),
        (lambda p: np.save(p, np.zeros(10, np.float32)), ["2-D", "(10,)"]),
        (lambda p: np.save(p, np.zeros((10, 5), np.float32)), ["5 wide", "input_dim=8"]),
        (lambda p: np.save(p, np.zeros((0, 8), np.float32)), ["empty"]),
        (lambda p: np.save(p, np.array([[np.nan] * 8, [0.0] * 8], np.float32)), ["NaN or infinity"]),
        (lambda p: np.save(p, np.array([[np.inf] * 8, [0.0] * 8], np.float32)), ["NaN or infinity"]),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), ["not a readable .npy array"]),
    ],
)
def test_bad_states_file(capsys, tmp_path, good_files, make, expect):
    bad = tmp_path / "bad_states.npy"
    make(bad)
    _fails(capsys, tmp_path / "out", *_file_args(bad, good_files[1]), expect=expect)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda p: None, ["teacher_checkpoint=", "no such file"]),
        (lambda p: p.write_text("junk"), ["not a loadable weights-only state dict"]),
        (lambda p: torch.save([1, 2, 3], p), ["expected a state dict"]),
        (lambda p: torch.save(build_teacher(0, 8, 32, 4).state_dict(), p), ["0.weight", "(32, 8)", "(16, 8)"]),
        (lambda p: torch.save({"0.weight": torch.zeros(3)}, p), ["keys do not fit"]),
        (lambda p: torch.save({"x": _Evil()}, p), ["not a loadable weights-only state dict"]),
    ],
)
def test_bad_teacher_checkpoint(capsys, tmp_path, good_files, make, expect):
    bad = tmp_path / "bad_teacher.pt"
    make(bad)
    _fails(capsys, tmp_path / "out", *_file_args(good_files[0], bad), expect=expect)
    assert "pwned" not in capsys.readouterr().out


def test_output_dir_that_cannot_be_created(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["run", *SMOKE, "-o", str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and "output directory" in err and "cannot be created or written" in err


def test_existing_results_are_not_overwritten_by_a_bad_run(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}')
    assert main(["run", *SMOKE, "-p", "alpha", "2", "-o", str(out)]) == 2
    assert (out / "results.json").read_text() == '{"old": true}'


@pytest.mark.parametrize("args, expect", [(["-p", "epochs", "ten"], "epochs='ten'"), (["-p", "aplha", "0.5"], "aplha")])
def test_real_command_exits_2_without_traceback(tmp_path, args, expect):
    proc = run_cli("run", *SMOKE, *args, "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert expect in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path):
    proc = run_cli("--debug", "run", *SMOKE, "-p", "epochs", "ten", "-o", str(tmp_path / "out"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def _states_file(path, array):
    np.save(path, array)
    return path


def test_the_output_folder_must_be_named(capsys):
    assert main(["run", *SMOKE, "-o", ""]) == 2
    assert "output directory ''" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make_teacher, expect",
    [
        (
            lambda sd: {k: v.fill_(float("nan")) if k == "0.weight" else v for k, v in sd.items()},
            ["0.weight holds NaN or infinite weights"],
        ),
        (
            lambda sd: {k: v * 1e30 if k.endswith("weight") else v for k, v in sd.items()},
            ["Q-values on the states are not all finite"],
        ),
        (lambda sd: {**sd, "0.weight": sd["0.weight"].to_sparse()}, ["0.weight is a torch.sparse_coo"]),
        (
            lambda sd: {**sd, "0.weight": sd["0.weight"].to(torch.complex64)},
            ["0.weight is a torch.strided torch.complex64"],
        ),
        (lambda sd: {**sd, "0.weight": torch.empty(16, 8, device="meta")}, ["0.weight is a meta tensor"]),
    ],
)
def test_a_teacher_that_cannot_work_is_refused_up_front(capsys, tmp_path, good_files, make_teacher, expect):
    bad = tmp_path / "bad_teacher.pt"
    torch.save(make_teacher(build_teacher(0, 8, 16, 4).state_dict()), bad)
    _fails(capsys, tmp_path / "out", *_file_args(good_files[0], bad), expect=expect)


def test_states_beyond_float32_or_beyond_memory_are_refused_up_front(capsys, tmp_path, good_files):
    huge_values = _states_file(tmp_path / "big.npy", np.full((300, 8), 1e300))
    _fails(capsys, tmp_path / "out1", *_file_args(huge_values, good_files[1]), expect=["overflow float32"])
    header = tmp_path / "huge.npy"
    with open(header, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 8)})
    _fails(capsys, tmp_path / "out2", *_file_args(header, good_files[1]), expect=["header declares", "GiB"])


def test_a_pickled_object_is_refused_in_one_whole_sentence(capsys, tmp_path, good_files):
    bad = tmp_path / "pickled.pt"
    torch.save({"x": _Evil()}, bad)
    _fails(
        capsys,
        tmp_path / "out",
        *_file_args(good_files[0], bad),
        expect=["holds Python objects, which a weights-only load refuses"],
    )


def test_rejected_real_task_parameters_leave_no_folder(capsys, tmp_path):
    _fails(capsys, tmp_path / "out", "-p", "buffer_epsilon", "2", expect=["buffer_epsilon=2.0"])


def test_exit_codes_are_documented():
    from distill_lib.runner.cli import EXIT_CODES, build_parser

    assert set(EXIT_CODES) == {0, 1, 2, 130}
    text = build_parser().format_help()
    assert all(str(code) in text for code in EXIT_CODES)
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    assert all(f"`{code}`" in page for code in EXIT_CODES)


# Bad input that used to get past the up-front checks (the adversarial run, round three) -----------
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_real_task_teacher_with_nan_or_infinite_weights_is_refused_up_front(capsys, tmp_path, bad):
    from conftest import plain_qnetwork

    state = plain_qnetwork(4, 16, 2).state_dict()  # a CartPole teacher of width 16
    state["4.weight"][0, 0] = bad
    ckpt = tmp_path / "teacher.pt"
    torch.save(state, ckpt)
    args = ("-p", "teacher_checkpoint", str(ckpt), "-p", "teacher_hidden", "16")
    _fails(capsys, tmp_path / "out", *args, expect=["teacher_checkpoint", "4.weight holds NaN or infinite weights"])


def test_a_plain_pickle_checkpoint_is_refused_in_one_line_without_torchs_warning(tmp_path, good_files):
    import pickle

    ckpt = tmp_path / "pickled.pt"
    with open(ckpt, "wb") as fh:
        pickle.dump({"0.weight": np.zeros((16, 4), np.float32)}, fh, protocol=4)
    for source in (["-p", "teacher_checkpoint", str(ckpt)], _file_args(good_files[0], ckpt)):  # real task, own file
        proc = run_cli("run", *SMOKE, *source, "-p", "teacher_hidden", "16", "-o", str(tmp_path / "out"))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert "holds Python objects, which a weights-only load refuses" in lines[0]


@pytest.mark.parametrize(
    "name, n, limit",
    [("world_seeds", 100_000, 1000), ("sweep_temperatures", 50_000, 100), ("fair_widths", 101, 100)],
)
def test_list_parameters_have_a_stated_upper_bound(capsys, tmp_path, name, n, limit):
    values = ",".join(str(i + 1) for i in range(n))  # -p NAME 1,2,3,...
    _fails(capsys, tmp_path / "out", "-p", name, values, expect=[name, f"{n} entries; at most {limit} are allowed"])


def test_every_list_parameter_is_bounded():
    from distill_lib.experiments import EXPERIMENTS
    from distill_lib.runner.params import specs_of

    lists = {n: s for n, s in specs_of(EXPERIMENTS).items() if "list" in s.type_name}
    # modes: its choices bound it; plugins: modules named by hand, each imported (the first unknown one fails)
    unbounded = [n for n, s in lists.items() if s.rule.max_len is None and s.rule.allowed() is None and n != "plugins"]
    assert len(lists) > 10 and unbounded == []


def test_params_lists_the_bounds(capsys):
    assert main(["params"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.strip().startswith("world_seeds "))
    assert "at most 1000 entries" in line


def _listing(capsys) -> dict[str, dict[str, str]]:
    """``distill-study params`` as group (the experiment's name) -> parameter name -> its line."""
    assert main(["params"]) == 0
    groups: dict[str, dict[str, str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line and not line.startswith(" "):
            group = groups.setdefault(line.split(":")[0], {})
        elif line.strip():
            group[line.split()[0]] = line
    return groups


def test_params_lists_a_shared_parameter_under_its_namesake(capsys):
    groups = _listing(capsys)
    assert "fair_widths" in groups["fair"] and "fair_widths" not in groups["baselines"]
    assert "scratch_seeds" in groups["baselines"] and "n_teachers" in groups["fair"]  # the rest stays put
    assert sum(name in g for g in groups.values() for name in ("fair_widths", "device", "seed")) == 3  # once each


def test_params_says_the_devices_of_any_machine_not_this_one(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _listing(capsys)["seeds"]["device"]
    assert "(one of cpu, or cuda where torch sees a GPU)" in line and not line.endswith("(one of cpu)")


@pytest.mark.parametrize("args", [["-p", "lr", "-1e-3"], ["-p", "lr=-1e-3"], ["--param", "lr", "-1e-3"]])
def test_a_negative_value_reaches_its_check(capsys, tmp_path, args):
    _fails(capsys, tmp_path / "out", *args, expect=["lr=-0.001: must be in (0, 1]"])


def test_param_pairs_keep_a_value_that_looks_like_an_option():
    from distill_lib.runner.cli import param_pairs

    argv = ["run", "-p", "lr", "-1e-3", "-p", "seed=3", "-q", "--param", "modes", "[a, b]", "-p", "x=y=z"]
    assert param_pairs(argv) == [
        "run",
        "--param=lr=-1e-3",
        "--param=seed=3",
        "-q",
        "--param=modes=[a, b]",
        "--param=x=y=z",
    ]
    assert param_pairs(["run", "-p", "seed"]) == ["run", "-p", "seed"]  # left for argparse to refuse
    assert param_pairs(["run", "--", "-p", "a", "b"]) == ["run", "--", "-p", "a", "b"]


def test_a_param_without_a_value_is_one_line(capsys, tmp_path):
    assert main(["run", *SMOKE, "-o", str(tmp_path / "out"), "-p", "seed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["distill-study: error: -p seed: give a name and a value, -p NAME VALUE or -p NAME=VALUE"]


@pytest.mark.parametrize(
    "args, expect",
    [
        (["run", "--jobs", "abc"], "argument --jobs: 'abc': must be a whole number >= 1"),
        (["run", "--jobs", "0"], "argument --jobs: '0': must be a whole number >= 1"),
        (["run", "-p"], "argument -p/--param: expected one argument"),
        (["run", "--colour"], "unrecognized arguments: --colour"),
        (["tasks"], "the following arguments are required"),
        (["lint"], "invalid choice: 'lint'"),
    ],
)
def test_argparse_refusals_are_one_line(capsys, args, expect):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith("distill-study: error: "), err
    assert expect in err[0]
