# Two entry points (see README): `make demo` and `make test`. Each creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The exact versions (and their hashes) come from requirements.lock; tallyproof itself is then
# installed without resolving anything again. Wheels only, except `names` (the 1990 Census
# name lists for the synthetic voter files), which PyPI has only as a pure-Python source
# archive: pip builds it, its hash checked like every other pin.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --only-binary :all: --no-binary names -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e '.[test]'
	touch $(STAMP)

.PHONY: demo test bench lock
demo: $(STAMP)
	$(BIN)/tallyproof demo --out demo-out

# The browser tests (tests/server/browser) drive Debian's Chromium: Playwright's own browser
# download cannot work on the project's machines. Installed once; a no-op when present.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The PDF report's text is read back with poppler's pdftotext (tests/evidence/test_report_pages.py).
PDFTOTEXT := /usr/bin/pdftotext
$(PDFTOTEXT):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils

test: $(STAMP) $(CHROMIUM) $(PDFTOTEXT)
	$(BIN)/ruff check --quiet src tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# votekit's numba needs an older numpy than the project pins, so it gets its own venv and
# bench_irv runs it in a subprocess on the same ballots.
VOTEKIT := .venv-votekit
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet pyrankvote==2.0.6
	test -x $(VOTEKIT)/bin/python || $(PY) -m venv $(VOTEKIT)
	$(VOTEKIT)/bin/python -m pip install --quiet votekit==3.5.0
	VOTEKIT_PYTHON=$(VOTEKIT)/bin/python $(BIN)/python benchmarks/run.py

# Re-pin requirements.lock after a change to the dependencies in pyproject.toml. Pins that
# still fit are kept; `make lock UPGRADE=1` moves every pin to the newest version allowed.
LOCKER := .venv-lock
lock:
	test -x $(LOCKER)/bin/python || $(PY) -m venv $(LOCKER)
	$(LOCKER)/bin/python -m pip install --quiet pip-tools==7.6.2
	$(LOCKER)/bin/pip-compile --quiet --extra test --strip-extras --generate-hashes \
		--allow-unsafe --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) \
		--output-file requirements.lock pyproject.toml
