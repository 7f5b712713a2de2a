# bertedu: the three commands of the README.
#   make book       set up .venv, fetch the offline web assets, build _build/html
#   make test       set up, ruff (lint and format check), then pytest, nbval (smoke profile),
#                   strict book build, editor check (what a reader should never see), browser
#                   check, layout check (nothing overflows at 1280 px, no chapter over 25,000 px);
#                   installs Chromium with apt-get when it is missing
#   make lint       ruff check and ruff format --check only (seconds)
#   make notebooks  re-execute every notebook in the cpu profile and store outputs + widget state

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: book test lint notebooks setup assets browser clean

setup: $(STAMP)

# torch goes first and exactly: a CPU wheel where one is on disk; any looser
# requirement would pull the newest release with several GB of CUDA packages.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$$(grep '^torch==' requirements.txt)"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (bertedu)" > /dev/null
	touch $(STAMP)

assets:
	bash scripts/fetch_web_assets.sh
	bash scripts/fetch_corpora.sh

# The browser checks drive a headless Chromium; a fresh Debian machine may lack one (and,
# like scripts/fetch_corpora.sh, its package lists: then they are fetched first).
browser:
	@command -v chromium > /dev/null || { \
		echo "Chromium is missing: installing it (apt-get install -y chromium)"; \
		apt-get install -y -qq chromium > /dev/null 2>&1 || { \
			apt-get update -qq && apt-get install -y -qq chromium > /dev/null; }; }

book: setup assets
	$(PY) scripts/build_book.py

# ruff first: a style slip fails in seconds, not after the slow steps.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint assets browser
	$(PY) -m pytest -p no:cacheprovider tests
	BERTEDU_PROFILE=smoke $(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=600 notebooks
	$(PY) scripts/build_book.py --strict
	$(PY) scripts/check_editor.py
	$(PY) scripts/check_book.py
	$(PY) scripts/check_layout.py

notebooks: setup
	$(PY) scripts/execute_notebooks.py --profile cpu

clean:
	rm -rf _build
