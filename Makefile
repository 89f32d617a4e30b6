# Two commands do all set-up on a fresh machine: `make book` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON3 ?= python3

.PHONY: install book test test-unit test-book clean benchmark lab

# chapters executed at a time by make book and make test (tools/execute_chapters.py)
TEST_JOBS ?= 2

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<26"
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Build the HTML book into _build/html (notebooks executed, cached between builds): the chapters whose
# cached run is out of date are executed first, two at a time (tools/execute_chapters.py).
book: install
	$(PY) tools/execute_chapters.py --jobs $(TEST_JOBS)
	$(VENV)/bin/jupyter-book build . --builder html

# The whole suite, every chapter executed once, with the book's own (full) parameters.
# Two chains share the cores (CI: 2), and both exit statuses are kept:
#  (a) the unit tests, output to _build/unit-tests.log (printed when both chains are done), with the
#      papermill runs of three small chapters under small parameters that test a parameter override
#      (tests/test_chapters.py::test_parameter_override);
#  (b) tools/execute_chapters.py: every chapter executed into Jupyter Book's cache, TEST_JOBS at a
#      time, longest first, after dropping their cached runs (--fresh: nothing is reused); then the
#      book built from that cache with -W (each chapter taken from the run just made; myst-nb would
#      re-execute a chapter whose source changed since); the report and the provenance page, which
#      summarise the chapters' records, execute in the build, after the chapters.
# Then the chapter tests on the build's executed notebooks (_build/jupyter_execute: glued values and
# claims against tests/chapter_params.yaml) and the HTML checks in Chromium.
# Why not papermill runs of every chapter: they executed each chapter a second time (README, "Test time").
test: install
	@mkdir -p _build
	@$(PY) -m pytest -q -rs tests --ignore=tests/test_html.py --deselect tests/test_chapters.py::test_chapter_built \
	  > _build/unit-tests.log 2>&1 & unit=$$!; \
	$(PY) tools/execute_chapters.py --fresh --jobs $(TEST_JOBS) && built=$$(date +%s) \
	  && $(VENV)/bin/jupyter-book build . --builder html --all -W --keep-going; book=$$?; \
	[ -n "$$built" ] && echo "== the book built from the cache in $$(( $$(date +%s) - built )) s"; \
	wait $$unit; units=$$?; echo "== unit tests (exit status $$units)"; cat _build/unit-tests.log; \
	echo "== chapters and book (exit status $$book)"; test $$units -eq 0 -a $$book -eq 0
	REQUIRE_BOOK=1 $(PY) -m pytest -q -rs tests/test_chapters.py::test_chapter_built tests/test_html.py

# JupyterLab on chapters/ with the project's kernel, on 127.0.0.1 only, nothing fetched online.
# Open a chapter, edit its first cell (tagged `parameters`), then Run > Run All Cells.
lab: install
	$(PY) tools/lab.py

benchmark: install
	$(PY) benchmarks/count_benchmark.py

clean:
	rm -rf _build $(VENV)
