# make study   - set up .venv and run the default study into reports/
# make test    - set up .venv and run the test suite (unit, nbval, end-to-end, acceptance): what CI runs
# make test-fast - the inner loop: the tests not marked slow (no end-to-end runs, no nbval; 2 min 54 s here)
# make tasks   - the default study's real-task parts on Acrobot and LunarLander (reports/tasks/<env_id>/) and the
#                cross-task summary of all three tasks (reports/tasks/; about 27 minutes)
# make full    - the full grid (params/full.yaml): CartPole into reports/full/, the other tasks into
#                reports/full/tasks/<env_id>/, their summary into reports/full/tasks/ (CartPole 20 minutes,
#                Acrobot 19, LunarLander longer: docs/full-grid.md, "How long")
# make readme  - rewrite the generated blocks of README.md and docs/results.md from reports/ (and reports/full/, tasks/)
# make report-check - screenshots of every page of reports/html/ (needs chromium)
# make lab     - JupyterLab on the notebooks
# make bench   - every speed figure in one run: the runner against a plain single-process loop, batched
#                training at 1, 30, 200 students vs its FLOP floor, closed loop old vs new, DQN steps/s
# make bench-batched - only the batched-training and closed-loop parts
# make teachers - retrain every task's shipped teacher and its 3 independent peers (CartPole, Acrobot, LunarLander;
#                 about 15 minutes on this machine; bit for bit)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv study tasks full readme reference test test-fast lab bench bench-batched teachers lint clean report-check

venv: $(STAMP)

# torch first, pinned: pip takes the CPU wheel (a looser request would pull a CUDA build).
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

study: $(STAMP)
	$(VENV)/bin/distill-study run
	$(PY) -m distill_lib.runner.readme

# the other tasks run only the real-task parts (params/real-task.yaml); the summaries read all three
OTHER_TASKS = Acrobot-v1 LunarLander-v3
tasks: $(STAMP)
	for env in $(OTHER_TASKS); do \
	  $(VENV)/bin/distill-study run -f params/study.yaml -f params/real-task.yaml -p env_id $$env \
	    -o reports/tasks/$$env || exit 1; \
	done
	$(VENV)/bin/distill-study tasks reports $(addprefix reports/tasks/,$(OTHER_TASKS)) -o reports/tasks
	$(PY) -m distill_lib.runner.readme

full: $(STAMP)
	$(VENV)/bin/distill-study run -f params/study.yaml -f params/full.yaml -o reports/full
	for env in $(OTHER_TASKS); do \
	  $(VENV)/bin/distill-study run -f params/study.yaml -f params/full.yaml -f params/real-task.yaml \
	    -p env_id $$env -o reports/full/tasks/$$env || exit 1; \
	done
	$(VENV)/bin/distill-study tasks reports/full $(addprefix reports/full/tasks/,$(OTHER_TASKS)) -o reports/full/tasks
	$(PY) -m distill_lib.runner.readme

readme: $(STAMP)
	$(PY) -m distill_lib.runner.readme

reference: $(STAMP)
	$(VENV)/bin/distill-study run -f params/reference.yaml -o build/reference

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(PY) tests/nbval_prepare.py build/nbval
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env build/nbval

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) benchmarks/bench_runner.py
	$(PY) benchmarks/bench_batched.py
	$(PY) benchmarks/bench_closed_loop.py
	$(PY) benchmarks/bench_dqn.py
	$(PY) benchmarks/bench_objectives.py

bench-batched: $(STAMP)
	$(PY) benchmarks/bench_batched.py
	$(PY) benchmarks/bench_closed_loop.py

TASKS = CartPole-v1 Acrobot-v1 LunarLander-v3
teachers: $(STAMP)
	mkdir -p build
	for env in $(TASKS); do \
	  $(VENV)/bin/papermill --cwd notebooks -p env_id $$env notebooks/00_teacher.ipynb build/00_teacher_$$env.ipynb || exit 1; \
	done

# Screenshots of every page of the report (headless Chromium: apt-get install chromium), to look at them.
report-check:
	@command -v chromium >/dev/null 2>&1 || { echo "make report-check: chromium not found (apt-get install chromium)"; exit 1; }
	@test -f reports/html/index.html || { echo "make report-check: no reports/html/index.html; run make study first"; exit 1; }
	mkdir -p build/screenshots
	for page in reports/html/*.html; do \
	  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
	    --no-first-run --hide-scrollbars --screenshot=build/screenshots/$$(basename $$page .html).png \
	    --window-size=1300,2400 file://$$(pwd)/$$page 2>/dev/null; \
	done
	@echo "screenshots in build/screenshots/"

lint: $(STAMP)
	$(VENV)/bin/ruff check distill_lib tests benchmarks
	$(VENV)/bin/ruff format --check distill_lib tests benchmarks

clean:
	rm -rf build reports/work reports/html
