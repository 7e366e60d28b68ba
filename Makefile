# Every target bootstraps .venv on a fresh clone. CPU torch is pinned in
# requirements/constraints.txt (an unpinned torch pulls a multi-GB CUDA build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
INTEGRATIONS := $(wildcard integrations/*/pyproject.toml)
DEMO_OUT ?= demo-output
DEMO_STEPS ?= 300
PYTEST_ARGS ?=

.PHONY: test demo bench lint browser clean

$(STAMP): pyproject.toml requirements/dev.txt requirements/constraints.txt $(INTEGRATIONS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements/constraints.txt \
		-r requirements/dev.txt -e . $(patsubst %/pyproject.toml,-e %,$(INTEGRATIONS))
	touch $(STAMP)

# Headless Chromium for the dashboard's browser test: Debian's package, never a
# browser download. Installed when we are root with apt; otherwise that test skips.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; the browser test will skip"; \
	fi

test: $(STAMP) browser
	$(PY) -m pytest --durations=15 $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/paramsched demo --out $(DEMO_OUT) --steps $(DEMO_STEPS)

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script $(BENCH_ARGS) || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src integrations tests benchmarks examples

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
