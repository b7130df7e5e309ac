# netlesson -- one command each for students, instructors and maintainers.
#   make lab      set everything up, then open the course in JupyterLab
#   make test     set everything up, then run the whole test suite
# Set-up = a virtual environment in .venv with the project installed, and
# Graphviz's `dot` (installed with apt-get when running as root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.netlesson-installed
PORT   ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = "0" ] && echo --allow-root)
OUT    ?= release
NB     ?=
SUBMISSIONS ?= submitted

.PHONY: help setup lab test unit notebooks nbval browser instructor pythons diagrams release grade bench clean

help:
	@echo "make lab       open the course in JupyterLab (sets everything up first)"
	@echo "make test      run the whole test suite (sets everything up first)"
	@echo "make unit      unit tests only (fast)"
	@echo "make notebooks sync each lesson's .md and .ipynb, re-execute, store outputs"
	@echo "               (one lesson: make notebooks NB=notebooks/02_tcp_echo.md)"
	@echo "make diagrams  regenerate pics/ from the running Python"
	@echo "make release   build student versions of the exercises into OUT=$(OUT)"
	@echo "make grade     autograde SUBMISSIONS=$(SUBMISSIONS) into grades.csv"
	@echo "make bench     run the benchmarks"

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("netlesson needs Python >= 3.11, this is " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,instructor]'
	@touch $(STAMP)

setup: $(STAMP)
	@tools/ensure-dot.sh

lab: setup
	@echo "Starting JupyterLab on http://127.0.0.1:$(PORT)/lab (the URL with its token follows)"
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
	    --ServerApp.root_dir=notebooks $(ROOT_FLAG) \
	    --LabApp.default_url=/lab/tree/00_index.ipynb

test: setup
	$(BIN)/python -m pytest
	tools/test-pythons.sh

unit: setup
	$(BIN)/python -m pytest tests/unit

pythons: setup
	tools/test-pythons.sh

# every lesson is a jupytext pair (jupytext.toml): NN_name.md is the source,
# NN_name.ipynb keeps the executed outputs.  NB= limits it to some lessons.
notebooks: setup
	$(BIN)/python tools/notebooks.py execute $(NB)

diagrams: setup
	$(BIN)/python -m netlesson diagrams --out pics

release: setup
	$(BIN)/python -m netlesson release --out $(OUT)

grade: setup
	$(BIN)/python -m netlesson grade $(SUBMISSIONS)

bench: setup
	$(BIN)/python benchmarks/echo_bench.py

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .hypothesis artifacts *.egg-info
