"""Tests of distill_lib.runner.study: the real command end to end at smoke size (table, HTML, resume, failures, kill)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, SMALL, SMOKE, marked_processes, plan_for, run_cli

#: end-to-end runs of the real command: the slow tier (make test-fast leaves them out)
pytestmark = pytest.mark.slow

MODES = ["hard_only", "blended", "soft_only"]


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["results"]


def _without_timing(out: Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    data["provenance"].pop("timing")
    return data


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    proc = run_cli("run", *SMOKE, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    proc = run_cli("run", *SMALL, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_table_and_html_name_every_mode(study):
    out, proc = study
    assert [r["mode"] for r in _rows(out)] == MODES
    for r in _rows(out):
        assert {
            "mode",
            "alpha",
            "final_action_agreement",
            "final_mean_prob_similarity",
            "best_val_loss",
            "best_epoch",
            "final_prob_similarity_t1",
            "final_kl_t1",
            "final_q_mse",
            "final_q_mae",
            "final_q_cosine",
            "final_top2_agreement",
        } <= set(r)
    md, csv = (out / "results.md").read_text(), (out / "results.csv").read_text()
    index = (out / "html" / "index.html").read_text()
    for mode in MODES:
        assert mode in md and mode in csv and mode in index and mode in proc.stdout
        assert (out / "html" / f"02_train_{mode}.html").is_file()
    assert "T = 1" in md and "T = run temperature" in md
    for page in ["01_world.html", "03_analysis.html"]:
        assert (out / "html" / page).is_file()
    for fig in [
        "learning_curves.png",
        "final_metrics.png",
        "seeds_world.png",
        "seeds_training.png",
        "gap_agreement.png",
        "sweep_heatmaps.png",
        "real_task_returns.png",
        "real_task_fidelity.png",
    ]:
        assert (out / "figures" / fig).stat().st_size > 1000
        assert f'src="figures/{fig}"' in index and (out / "html" / "figures" / fig).is_file()
    for page in ["04_seeds.html", "05_sweep_T=1.html", "05_sweep_T=3.html", "05_sweep_mse.html", "06_real_task.html"]:
        assert (out / "html" / page).is_file() and page in index
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"]["world"]["n_seeds"] == 3 and results["seeds"]["training"]["n_seeds"] == 2
    assert results["sweep"]["temperatures"] == [1.0, 3.0] and results["sweep"]["mse_row"] is not None
    assert results["real_task"]["widths"] == [8] and results["real_task"]["n_seeds"] == 2
    analysis = (out / "html" / "03_analysis.html").read_text()
    assert "Verdict" in analysis and "differ detectably" in analysis
    assert "differ detectably" in index  # the verdicts are on the index too
    provenance = json.loads((out / "results.json").read_text())["provenance"]
    assert provenance["versions"]["torch"] == "2.13.0+cpu" or provenance["versions"]["torch"].startswith("2.13.0")
    assert {"commit", "code_hash", "python"} <= set(provenance)


def test_html_works_offline(study):
    out, _ = study
    for page in (out / "html").glob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", text), page.name
        assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", text), page.name
        assert 'import("https' not in text and "cdnjs" not in text, page.name


def test_rerun_reuses_everything_and_changes_nothing(study):
    out, _ = study
    before = (out / "results.json").read_bytes()
    proc = run_cli("run", *SMOKE, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "results.json").read_bytes() == before
    state = json.loads((out / "work" / "study.json").read_text())
    assert state["state"] == "complete" and set(state["steps"].values()) == {"reused"}


def test_same_study_twice_gives_identical_results(study, tmp_path):
    out, _ = study
    proc = run_cli("run", *SMOKE, "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert _without_timing(tmp_path) == _without_timing(out)


def test_changing_a_parameter_reruns_what_depends_on_it(study, tmp_path):
    out, _ = study
    shutil.copytree(out, tmp_path / "o")
    proc = run_cli("run", *SMOKE, "-p", "alpha", "0.5", "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    steps = json.loads((tmp_path / "o" / "work" / "study.json").read_text())["steps"]
    assert steps == {
        "world": "reused",
        "seeds": "done",
        "sweep T=1": "reused",
        "sweep T=3": "reused",
        "sweep mse": "reused",
        "real_task": "done",
        "fair w=8": "reused",  # it searches blended's alpha on its own grid (fair_alphas)
        "budgets w=8": "reused",  # it trains at the fair comparison's selection
        "baselines teachers": "reused",  # DQN and the shipped peers read no alpha
        "baselines w=8": "reused",
        "hard_only": "reused",
        "blended": "done",
        "soft_only": "reused",
        "analysis": "done",
    }
    assert [r["alpha"] for r in _rows(tmp_path / "o")] == [0.0, 0.5, 1.0]


def test_a_failing_mode_does_not_stop_the_others_and_resumes(small, tmp_path):
    out = small
    step = plan_for(SMALL, tmp_path).step("blended")
    blocker = step.folder / "final.pt"
    blocker.mkdir(parents=True)  # a folder where the checkpoint should go: blended cannot save its run
    proc = run_cli("run", *SMALL, "-o", str(tmp_path))
    assert proc.returncode == 1
    assert "blended" in proc.stderr and "Error" in proc.stderr and str(step.output) in proc.stderr
    assert "Traceback" not in proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["mode"] for r in results["results"]] == ["hard_only", "soft_only"]
    assert results["missing_modes"] == ["blended"]
    assert "blended" in (tmp_path / "html" / "index.html").read_text()
    executed = json.loads(step.output.read_text())  # the failed notebook, with papermill's error banner
    assert (tmp_path / "html" / "02_train_blended.html").is_file()
    assert any(
        "papermill-error-cell-tag" in c.get("metadata", {}).get("tags", [])
        or "An Exception was encountered" in "".join(c.get("source", []))
        for c in executed["cells"]
    )

    blocker.rmdir()
    proc = run_cli("run", *SMALL, "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    steps = json.loads((tmp_path / "work" / "study.json").read_text())["steps"]
    assert steps == {
        "world": "reused",
        "hard_only": "reused",
        "blended": "done",
        "soft_only": "reused",
        "analysis": "done",
    }
    assert _without_timing(tmp_path) == _without_timing(out)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find child processes")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_killed_study_stops_promptly_leaves_no_orphans_and_resumes(small, tmp_path, sig):
    out = small
    marker = uuid.uuid4().hex
    env = {**os.environ, "DISTILL_TEST_MARK": marker}
    proc = subprocess.Popen(
        [sys.executable, "-m", "distill_lib", "run", *SMALL, "-o", str(tmp_path), "-q"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    data_record = plan_for(SMALL, tmp_path).step("world").folder / "record.json"
    while not data_record.is_file():  # the modes are running now
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert json.loads((tmp_path / "work" / "study.json").read_text())["state"] == "interrupted"
    for _ in range(100):
        if not marked_processes(marker):
            break
        time.sleep(0.1)
    assert marked_processes(marker) == []
    assert not list(tmp_path.rglob("*.tmp"))  # nothing half-written

    proc2 = run_cli("run", *SMALL, "-o", str(tmp_path))
    assert proc2.returncode == 0, proc2.stderr
    assert json.loads((tmp_path / "work" / "study.json").read_text())["steps"]["world"] == "reused"
    assert _without_timing(tmp_path) == _without_timing(out)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find kernels")
def test_a_kernel_that_dies_fails_its_step_without_hanging_the_study(tmp_path):
    marker = uuid.uuid4().hex
    env = {**os.environ, "DISTILL_TEST_MARK": marker}
    args = [sys.executable, "-m", "distill_lib", "run", *SMALL, "-p", "epochs", "40", "-o", str(tmp_path), "-q"]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    data_record = plan_for([*SMALL, "-p", "epochs", "40"], tmp_path).step("world").folder / "record.json"
    while not data_record.is_file():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    kernels = []  # forked kernels lead sessions of their own
    while not kernels and time.time() < deadline:
        for pid in marked_processes(marker):
            with open(f"/proc/{pid}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[3]) == pid:
                    kernels.append(pid)
    os.kill(kernels[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    steps = json.loads((tmp_path / "work" / "study.json").read_text())["steps"]
    assert list(steps.values()).count("failed") == 1 and "Kernel died" in err and "Traceback" not in err
    assert run_cli("run", *SMALL, "-p", "epochs", "40", "-o", str(tmp_path)).returncode == 0  # resumes


def test_every_page_shows_tables_as_tables_no_stderr_and_a_way_back(study):
    out, _ = study
    pages = sorted((out / "html").glob("*.html"))
    for page in pages:
        text = page.read_text()
        if page.name == "index.html":
            continue
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in text, page.name  # no bars, no warnings
        assert not re.search(r"<p>[^<]*\|\s*-{3}", text), page.name  # a Markdown table left as text
        assert text.count('href="index.html"') == 2, page.name
    analysis = (out / "html" / "03_analysis.html").read_text()
    # comparison 1; seeds: means and pairs for 2 kinds, gap bins 1; sweep 0; real task 2
    assert analysis.count("<table") >= 1 + 4 + 1 + 2
    assert "KL(teacher || student)" in analysis.replace("&#124;", "|")


def test_the_index_reads_in_order_with_every_figure_and_verdict(study):
    out, _ = study
    index = (out / "html" / "index.html").read_text()
    results = json.loads((out / "results.json").read_text())
    assert [s["experiment"] for s in results["sections"]] == [
        "comparison",
        "seeds",
        "sweep",
        "real_task",
        "baselines",
        "fair",
        "budgets",
    ]
    for section in results["sections"]:
        assert section["title"] in index and section["verdict"][:60].replace("'", "&#x27;") in index, section["title"]
    pages = re.findall(r'<li><a href="([^"]+)"', index)
    assert pages == sorted(pages, key=lambda p: p[:2]) and pages[0] == "01_world.html" and len(pages) == 14
    assert all(f'src="figures/{fig}"' in index for fig in os.listdir(out / "figures"))


def test_your_own_teacher_runs_what_applies_to_it(tmp_path):
    import numpy as np
    import torch

    from distill_lib.core.networks import build_teacher

    np.save(tmp_path / "states.npy", np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32))
    torch.save(build_teacher(0, 8, 16, 4).state_dict(), tmp_path / "teacher.pt")
    args = ["-p", "source", "file", "-p", "states_file", str(tmp_path / "states.npy")]
    args += ["-p", "teacher_checkpoint", str(tmp_path / "teacher.pt")]
    proc = run_cli("run", *SMOKE, *args, "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "the real-task section needs a task's teacher (env_id), not the file's" in proc.stderr
    assert "the fair comparison needs a task's teacher (env_id), not the file's" in proc.stderr
    assert "the baselines need a task's teacher (env_id), not the file's" in proc.stderr
    steps = json.loads((tmp_path / "out" / "work" / "study.json").read_text())["steps"]
    assert "real_task" not in steps and not any(n.startswith(("sweep", "fair")) for n in steps)
    assert steps["seeds"] == "done"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["seeds"]) == {"training"} and "real_task" not in results and "fair" not in results
    comparison = next(s for s in results["sections"] if s["experiment"] == "comparison")
    assert comparison["verdict"].startswith("Your teacher (teacher.pt) and your 300 states")
    assert "synthetic teacher" not in (tmp_path / "out" / "results.md").read_text()
