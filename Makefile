# PenguiFlow monorepo entry points. Needs only python3 (>= 3.11) and make.
# Run `make` or `make help` for the list of targets.

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := core planner a2a tools playground
# Re-install the dev environment whenever one of these changes.
STAMP := $(VENV)/.penguiflow-dev.stamp
STAMP_INPUTS := requirements-dev.txt VERSION scripts/hatch_pins.py \
	$(foreach p,$(PACKAGES),packages/$(p)/pyproject.toml)

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: venv
venv: $(STAMP) ## Create .venv with the five packages (editable) and the dev tools

$(STAMP): $(STAMP_INPUTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: PenguiFlow needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
			"Use 'make PYTHON=python3.12 ...'" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
		$(foreach p,$(PACKAGES),-e packages/$(p))
	@touch $@

.PHONY: demo
demo: venv ## Run the quickstart flow, then a ReactPlanner (offline, scripted LLM)
	$(BIN)/python examples/quickstart/main.py
	$(BIN)/python examples/react_minimal/main.py

.PHONY: test
test: venv ## Run every check: ruff, format, mypy --strict, pytest, mkdocs --strict
	VENV=$(VENV) bash scripts/check

.PHONY: lint
lint: venv ## Lint and check formatting (ruff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: format
format: venv ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: typecheck
typecheck: venv ## Type-check penguiflow-core with mypy --strict
	$(BIN)/mypy

.PHONY: docs
docs: venv ## Build the documentation into site/
	$(BIN)/mkdocs build --strict --site-dir site

.PHONY: architecture
architecture: venv ## Regenerate the layer map of docs/design/architecture.md from the code
	$(BIN)/python scripts/architecture.py

.PHONY: bench
bench: venv ## Run the benchmarks
	$(BIN)/python benchmarks/run_all.py

.PHONY: build
build: venv ## Build each package's sdist and wheel (from the sdist) into dist/, twine-checked
	$(BIN)/python scripts/build_dists.py --outdir dist

.PHONY: bump
bump: ## Set the version of every package: make bump VERSION=0.2.0
	@test -n "$(VERSION)" || { echo "usage: make bump VERSION=X.Y.Z" >&2; exit 2; }
	@$(PYTHON) scripts/set_version.py "$(VERSION)"

.PHONY: release
release: venv ## Bump to VERSION, date CHANGELOG.md, build and check dist/; uploads nothing
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=X.Y.Z" >&2; exit 2; }
	$(BIN)/python scripts/release.py "$(VERSION)"

.PHONY: clean
clean: ## Remove build outputs and tool caches (keeps .venv)
	rm -rf dist build site .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . \( -path ./.git -o -path './$(VENV)' -o -path './benchmarks/.venv*' \) -prune \
		-o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## Also remove .venv
	rm -rf $(VENV)
