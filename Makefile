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

# The whole suite: unit tests, papermill runs of every chapter with small parameters,
# then the book with forced execution and -W, then the HTML checks on the built pages.
test: install
	$(PY) -m pytest -q tests --ignore=tests/test_html.py
	$(PY) tools/book_config.py force > _build_config_force.yml
	$(VENV)/bin/jupyter-book build . --builder html --config _build_config_force.yml --all -W --keep-going; \
	  status=$$?; rm -f _build_config_force.yml; exit $$status
	REQUIRE_BOOK=1 $(PY) -m pytest -q tests/test_html.py

# JupyterLab on chapters/ with the project's kernel, on 127.0.0.1 only, nothing fetched online.
# Open a chapter, edit its first cell (tagged `parameters`), then Run > Run All Cells.
lab: install
	$(PY) tools/lab.py

benchmark: install
	$(PY) benchmarks/count_benchmark.py

clean:
	rm -rf _build $(VENV) _build_config_force.yml
