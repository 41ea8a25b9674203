# Two set-up commands (README): `make demo` runs the main job end to end, `make test` runs the test suite.
# Both create their own virtual environment in .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   := .demo

.PHONY: venv demo demo-lifecycle test fuzz bench-pack bench-transfer bench-startup bench-scan bench-search clean

$(BIN)/modelcrate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/modelcrate

demo: venv
	rm -rf $(DEMO)
	MODELCRATE_HOME=$(DEMO)/store $(BIN)/modelcrate pack examples/tiny-classifier -t tiny-classifier:1.0.0
	MODELCRATE_HOME=$(DEMO)/store $(BIN)/modelcrate list
	MODELCRATE_HOME=$(DEMO)/store $(BIN)/modelcrate inspect tiny-classifier:1.0.0
	MODELCRATE_HOME=$(DEMO)/store $(BIN)/modelcrate unpack tiny-classifier:1.0.0 $(DEMO)/unpacked
	diff -r --exclude=modelcrate.yaml examples/tiny-classifier $(DEMO)/unpacked
	$(BIN)/python $(DEMO)/unpacked/predict.py
	@echo "demo OK: packed, inspected and unpacked byte-identical (store in $(DEMO)/store)"
	# The lifecycle on the same local store: sign, approve, promote through two stages, history, resolve.
	for who in release alice bob; do MODELCRATE_KEY_PASSWORD=demo-only $(BIN)/modelcrate keygen \
	  --output-key-prefix $(DEMO)/$$who; done
	MODELCRATE_HOME=$(DEMO)/store MODELCRATE_KEY_PASSWORD=demo-only $(BIN)/modelcrate sign tiny-classifier:1.0.0 --key $(DEMO)/release.key
	MODELCRATE_HOME=$(DEMO)/store MODELCRATE_KEY_PASSWORD=demo-only $(BIN)/modelcrate approve tiny-classifier:1.0.0 --stage production --key $(DEMO)/bob.key --comment "reviewed"
	MODELCRATE_HOME=$(DEMO)/store MODELCRATE_KEY_PASSWORD=demo-only $(BIN)/modelcrate promote tiny-classifier:1.0.0 --to staging --key $(DEMO)/alice.key --reason "demo"
	MODELCRATE_HOME=$(DEMO)/store MODELCRATE_KEY_PASSWORD=demo-only $(BIN)/modelcrate promote tiny-classifier:staging --to production --key $(DEMO)/alice.key --reason "demo"
	MODELCRATE_HOME=$(DEMO)/store $(BIN)/modelcrate history tiny-classifier --key $(DEMO)/alice.pub
	MODELCRATE_HOME=$(DEMO)/store $(BIN)/modelcrate resolve tiny-classifier:production --key $(DEMO)/alice.pub
	@echo "demo OK: signed, approved, promoted to production with a verified history (make demo-lifecycle: on registry:2)"

demo-lifecycle: venv
	examples/lifecycle.sh

test: venv
	$(BIN)/python -m pytest -q

# The fuzz suite runs in `make test` with a small profile; this runs it with 20 000 examples per parser
# (FUZZ_EXAMPLES=N to change), randomised, for as long as that takes.
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/fuzz

bench-pack: venv
	$(BIN)/python benchmarks/pack.py

bench-transfer: venv
	$(BIN)/python benchmarks/transfer.py

bench-startup: venv
	$(BIN)/python benchmarks/startup.py

bench-scan: venv
	$(BIN)/python benchmarks/scan.py

bench-search: venv
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/search.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
