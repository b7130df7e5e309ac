# netlesson -- one command each for students, instructors and maintainers.
#   make lab      set everything up, then open the course in JupyterLab
#   make test     set everything up, then run the whole test suite
# Two virtual environments, both installed with constraints.txt (a known-good set):
#   .venv             the course as students run it (no nbgrader: no instructor menus
#                     in JupyterLab), plus the test tools; make lab, make test
#   .venv-instructor  the same plus nbgrader; make release, make grade and the
#                     instructor tests
# and Graphviz's `dot` and bubblewrap's `bwrap` (the grading sandbox), installed with
# apt-get when running as root.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.netlesson-installed
IVENV  := .venv-instructor
IBIN   := $(IVENV)/bin
ISTAMP := $(IVENV)/.netlesson-installed
CONSTRAINTS := constraints.txt
STUDENT_EXTRAS := test,ci,site
INSTRUCTOR_EXTRAS := test,instructor
PORT   ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = "0" ] && echo --allow-root)
OUT    ?= release
NB     ?=
SUBMISSIONS ?= submitted
COURSE ?= course
CHECK_PYTHON = $(PYTHON) -c 'import sys; sys.exit("netlesson needs Python >= 3.11, this is " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
# make hub: a real JupyterHub on this machine (deploy/hub.py, docs/instructors.md)
HUB_PREFIX ?= /opt/netlesson-hub
HUB_PORT ?= 8000
HUB_STUDENTS ?= 3
# JupyterLab settings for the course's environment: no news or update pop-ups
LAB_OVERRIDES := {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}

.PHONY: help setup instructor-setup lab test unit notebooks exercises pythons diagrams site release grade bench constraints clean messages

help:
	@echo "make lab       open the course in JupyterLab (sets everything up first)"
	@echo "make test      run the whole test suite (sets everything up first)"
	@echo "make unit      unit tests only (fast)"
	@echo "make notebooks sync each lesson's and instructor exercise's .md and .ipynb, re-execute,"
	@echo "               store outputs (one: make notebooks NB=notebooks/02_tcp_echo.md"
	@echo "               or NB=instructor/exercises/ex04_framing.md)"
	@echo "make exercises regenerate the student edition notebooks/exercises/ from instructor/exercises/"
	@echo "               (nbgrader generate_assignment; after make notebooks NB=instructor/exercises/...)"
	@echo "make diagrams  regenerate pics/ from the running Python"
	@echo "make messages  update the Chinese message catalogs from the code, compile and check them"
	@echo "               (netlesson/locale/zh_CN/LC_MESSAGES/*.po: translate the new entries, run again)"
	@echo "make site      build the course website into _site/ from the stored outputs"
	@echo "               (launch links: COURSE_REPOSITORY=github.com/OWNER/netlesson COURSE_HUB_URL=https://hub..."
	@echo "                COURSE_BRANCH=students)"
	@echo "make release   build student versions of the exercises into OUT=$(OUT)"
	@echo "make grade     grade SUBMISSIONS=$(SUBMISSIONS) into grades.csv, grades-logs/ and the"
	@echo "               nbgrader course directory COURSE=$(COURSE) (gradebook.db, autograded/)"
	@echo "make student-branch  commit HEAD without instructor/ (the solutions) on the branch"
	@echo "               students, for clones, nbgitpuller and Binder; prints what to push"
	@echo "make bench     run the benchmarks"
	@echo "make hub       try the course on a real JupyterHub on this machine (as root): installs it"
	@echo "               into HUB_PREFIX=$(HUB_PREFIX), adds accounts, prints the URL (deploy/hub.py)"
	@echo "make constraints  re-pin constraints.txt to the newest versions that install"

# pip's output goes to a log; on failure its end is shown
define make_venv
	@$(CHECK_PYTHON)
	@echo "Setting up $(1) with the course's packages (log: $(1)/install.log) ..."
	@$(PYTHON) -m venv $(1)
	@$(1)/bin/python -m pip install --upgrade pip > $(1)/install.log 2>&1 || { tail -30 $(1)/install.log; exit 1; }
	@$(1)/bin/python -m pip install -c $(CONSTRAINTS) -e '.[$(2)]' >> $(1)/install.log 2>&1 \
	    || { tail -30 $(1)/install.log; exit 1; }
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(call make_venv,$(VENV),$(STUDENT_EXTRAS))
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '$(LAB_OVERRIDES)' > $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)

$(ISTAMP): pyproject.toml $(CONSTRAINTS)
	$(call make_venv,$(IVENV),$(INSTRUCTOR_EXTRAS))
	@touch $(ISTAMP)

setup: $(STAMP)
	@tools/ensure-dot.sh

instructor-setup: $(ISTAMP)
	@tools/ensure-dot.sh
	@tools/ensure-sandbox.sh || echo "(make grade will refuse to run student code without it)"

lab: setup
	@echo "Starting JupyterLab with the course; open the link printed below. Ctrl-C stops it."
	@$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
	    --ServerApp.root_dir=notebooks $(ROOT_FLAG) \
	    --ServerApp.log_level=WARN --LabApp.log_level=WARN \
	    --LabApp.default_url=/lab/tree/00_index.ipynb

# The course and its tests in the students' environment; then the instructor
# tests (real nbgrader) in the instructor's; then the other Pythons.
test: setup instructor-setup
	$(BIN)/python -m pytest --ignore=tests/instructor
	$(IBIN)/python -m pytest tests/instructor
	tools/test-pythons.sh

unit: setup
	$(BIN)/python -m pytest tests/unit

# netlesson's messages (netlesson/i18n.py): English in the code, Chinese in the catalogs
messages: setup
	$(BIN)/python tools/messages.py update
	$(BIN)/python tools/messages.py compile
	$(BIN)/python tools/messages.py check

pythons: setup
	tools/test-pythons.sh

# every lesson is a jupytext pair (jupytext.toml): NN_name.md is the source,
# NN_name.ipynb keeps the executed outputs.  So is every exercise's source in
# instructor/exercises/ (with the solutions, executed with them).  NB= limits it
# to some of these; notebooks/exercises/ is not executed: make exercises writes it.
notebooks: setup
	$(BIN)/python tools/notebooks.py execute $(NB)

# the student edition: nbgrader generate_assignment on instructor/exercises/*.ipynb
# -> notebooks/exercises/*.ipynb (no solutions, no outputs) + their .md.  Commit them.
exercises: instructor-setup
	$(IBIN)/python tools/notebooks.py students

diagrams: setup
	$(BIN)/python -m netlesson diagrams --out pics

# the course website: Sphinx + myst-nb render the notebooks' stored outputs (nothing
# is executed) into _site/; work files in build/site/.  See site/conf.py.
site: setup
	$(BIN)/python site/build.py --out _site

release: instructor-setup
	$(IBIN)/python -m netlesson release --source instructor/exercises --out $(OUT)

grade: instructor-setup
	$(IBIN)/python -m netlesson grade --source instructor/exercises --course-dir $(COURSE) $(SUBMISSIONS)

# HEAD minus instructor/ as a new commit on the branch `students` (git plumbing on a
# temporary index: the working tree, the index and HEAD stay as they are).  Push it.
.PHONY: student-branch
student-branch:
	$(PYTHON) tools/student_branch.py

# a real JupyterHub for trying the class (root: each student is a system user);
# Ctrl-C stops it.  The classroom test (tests/hub/) starts the same hub.
.PHONY: hub hub-setup
hub:
	$(PYTHON) deploy/hub.py run --prefix $(HUB_PREFIX) --port $(HUB_PORT) --students $(HUB_STUDENTS)

hub-setup:
	$(PYTHON) deploy/hub.py install --prefix $(HUB_PREFIX)

bench: setup
	$(BIN)/python benchmarks/echo_bench.py

# newest versions that install together (every extra), tested by the next make test
constraints:
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --upgrade pip
	.venv-constraints/bin/python -m pip install -q -e '.[test,ci,site,instructor,hub]'
	{ sed -n '/^#/p' $(CONSTRAINTS); .venv-constraints/bin/python -m pip freeze --exclude-editable \
	    | grep -vi '^netlesson'; } > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) $(IVENV) .venv-3.* .pytest_cache .hypothesis artifacts *.egg-info _site build/site
