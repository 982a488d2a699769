# imds.azure developer entry points. Everything is installed by these targets.
#   make demo    the emulator-backed demo
#   make test    every gate: sanity, units, emulator, harness, integration, eda, demo, lint, docs, changelog, build, examples
#                (first installs the Debian packages of tools/harness/system-packages.txt: run as root)
#   make check   the edit loop, before every commit: units and the quick integration targets on the
#                newest core (about 2 minutes with a warm .venv; make test has run once on the machine)
#   make test-matrix         sanity, units and integration on every supported ansible-core
#                            (MATRIX_CORES="2.16 2.19" for some cores, MATRIX_STEPS="units" for some steps)
#   make test-units-matrix   units on every supported ansible-core
#   make bench   benchmarks, printed as ratios against baselines measured in the same run
#   make fuzz    the unit tests with the long Hypothesis profile (HYPOTHESIS_PROFILE=long, FUZZ_TESTS=path)
#   make coverage  line and branch coverage of plugins/ by the unit tests, per file and in total
#                  (.build/coverage/coverage.txt and coverage.json)
#   make docs    docs/plugins/ rewritten, and the HTML site in .build/docs-site/build/html/index.html

PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
VENV := .venv
STAMP := $(VENV)/.installed

STEP_TARGETS := $(addprefix test-,sanity units emulator harness integration eda demo lint docs changelog build examples)

.PHONY: setup venv test check test-matrix test-units-matrix demo bench docs fuzz coverage clean $(STEP_TARGETS)

venv: $(STAMP)

# Debian packages the tests need (tools/harness/system-packages.txt), and the Pythons.
setup:
	@PYTHON="$(PYTHON)" tools/harness/setup.sh

# uv (pinned in constraints-dev.txt) installs the pinned requirements in about a quarter of pip's
# time; the matrix venvs use the same uv (tools/harness/matrix.sh). --system-certs: trust the
# system's CA store as pip and curl do (uv's own bundle fails behind a TLS-inspecting proxy).
$(STAMP): requirements-dev.txt constraints-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found (set PYTHON=...)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -c constraints-dev.txt uv
	$(VENV)/bin/uv pip install -q --system-certs --python $(VENV)/bin/python -r requirements-dev.txt -c constraints-dev.txt
	touch $@

# The set-up's time (packages, .venv) goes into the harness's time table; the last line is the whole.
test:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory setup venv || exit 1; \
	HARNESS_SETUP_SECONDS=$$(( $$(date +%s) - start )) tools/harness/run.sh; status=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s in all (budget 900 s)"; exit $$status

# The quick integration targets: each costs under 20 s of CPU (docs/testing.md, "Where the time goes").
CHECK_TARGETS := action_group lookup_metadata lookup_token metadata_facts_netns metadata_facts_windows

check: venv
	tools/harness/run.sh units $(addprefix integration/,$(CHECK_TARGETS))

# One harness step, e.g. make test-units (phony targets cannot use a pattern rule).
$(STEP_TARGETS): venv
	tools/harness/run.sh $(@:test-%=%)

demo: venv
	$(VENV)/bin/python -m tools.demo

# The version matrix: one venv per ansible-core (.venv-X.Y from tests/matrix/, 2.21 is .venv).
test-matrix: setup venv
	tools/harness/matrix.sh $(MATRIX_CORES)

test-units-matrix: venv
	MATRIX_STEPS=units tools/harness/matrix.sh

# Rewrite docs/plugins/ from the plugins' documentation (make test fails when it is stale), then build the
# HTML site into .build/docs-site/build/html/index.html and check it in Chromium (tools/docs_site.py).
docs: venv
	tools/harness/run.sh render site

# Property-based fuzzing at length: make test runs the same properties with the short "ci" profile.
fuzz: venv
	tools/harness/run.sh fuzz

# ansible-test units --coverage, then tools/harness/coverage_report.py (docs/testing.md, "Coverage").
coverage: venv
	tools/harness/run.sh coverage && cat .build/coverage/coverage.txt

bench: venv
	$(VENV)/bin/python -m bench

clean:
	rm -rf .build tests/output .venv-2.*
