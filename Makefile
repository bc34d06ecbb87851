# Two entry points for a fresh machine (see README.md):
#   make demo   set up, then grade the reference solutions and the blank stubs
#   make test   set up, then run the kit's whole test suite
# Setup installs into .venv with constraints.txt, which pins torch/torchvision and every
# other dependency, so CI and instructors resolve the same versions from the mirror.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test release bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/autograder data prepare
	@echo "== reference solutions (expected: full marks) =="
	$(BIN)/autograder grade solutions/
	@echo "== blank student stubs (expected: 0) =="
	$(BIN)/autograder grade assignments/

# Two workers, each given whole test files (a module's fixtures are built once), the
# longest files first (tests/conftest.py LONGEST_FIRST; --no-loadscope-reorder keeps that
# order): two cores run the suite in about 65 % of the serial time.
TEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

release: setup
	$(BIN)/autograder release

bench: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build .data
