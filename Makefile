# Everything a new machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml setup.py dstreams/_speedups.c dstreams/sources/kafka/_cdecoder.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: install
	$(PY) examples/kafka_wordcount.py

test: install
	PYTHONUNBUFFERED=1 $(PY) -m pytest -q  # unbuffered: a timeout's stack dump reaches the log at once

bench: install
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check dstreams tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
