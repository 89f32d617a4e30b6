# Two commands do all set-up on a fresh machine: `make book` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON3 ?= python3

.PHONY: install book test test-unit test-book clean benchmark lab

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<26"
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Build the HTML book into _build/html (notebooks executed, cached between builds).
book: install
	$(VENV)/bin/jupyter-book build . --builder html

# The whole suite, every chapter executed once, with the book's own (full) parameters:
# 1. at the same time, on the cores there are (CI: 2):
#    - the unit tests, with the papermill runs of a few small chapters under small parameters that test
#      a parameter override (tests/test_chapters.py::test_parameter_override), output to a log;
#    - tools/execute_chapters.py: every chapter executed into Jupyter Book's cache, TEST_JOBS at a
#      time, longest first, after dropping their cached runs (--fresh: nothing is reused);
#    both exit statuses are kept, the unit tests' log is printed when both are done;
# 2. the book built with -W from that cache (each chapter taken from the run of step 1; myst-nb
#    re-executes a chapter whose source changed since): the report and the provenance page, which
#    summarise the chapters' records, execute here, after the chapters;
# 3. the chapter tests on the build's executed notebooks (_build/jupyter_execute: glued values and
#    claims against tests/chapter_params.yaml) and the HTML checks in Chromium.
# README, "Test time", says what each step takes.
TEST_JOBS ?= 2
test: install
	@mkdir -p _build
	@$(PY) -m pytest -q -rs tests --ignore=tests/test_html.py --deselect tests/test_chapters.py::test_chapter_built \
	  > _build/unit-tests.log 2>&1 & unit=$$!; \
	$(PY) tools/execute_chapters.py --fresh --jobs $(TEST_JOBS); chapters=$$?; \
	wait $$unit; units=$$?; echo "== unit tests (exit status $$units)"; cat _build/unit-tests.log; \
	echo "== chapters executed (exit status $$chapters)"; test $$units -eq 0 -a $$chapters -eq 0
	$(VENV)/bin/jupyter-book build . --builder html --all -W --keep-going
	REQUIRE_BOOK=1 $(PY) -m pytest -q -rs tests/test_chapters.py::test_chapter_built tests/test_html.py

# JupyterLab on chapters/ with the project's kernel, on 127.0.0.1 only, nothing fetched online.
# Open a chapter, edit its first cell (tagged `parameters`), then Run > Run All Cells.
lab: install
	$(PY) tools/lab.py

benchmark: install
	$(PY) benchmarks/count_benchmark.py

clean:
	rm -rf _build $(VENV)
