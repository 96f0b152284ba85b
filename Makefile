# `make demo` and `make test` install whatever is missing, once, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test
JARS := .jars/.resolved
CHROMIUM := /usr/bin/chromium
CONF ?= conf/local.yaml
PYTEST_ARGS ?=

.PHONY: demo test bench install clean

demo: install
	$(PY) -m jobs.run_pipeline --conf $(CONF)

test: install $(TEST_INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

# Scripts, not tests: rendering throughput, main-content quality and QA extraction on the
# real-web corpus (../shared/realweb, or WEBMINE_REALWEB); figures under work/bench/.
bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks.render_throughput
	$(PY) -m benchmarks.content_quality
	$(PY) -m benchmarks.real_web_quality

install: $(INSTALLED) $(JARS) $(CHROMIUM)

$(INSTALLED): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[spark]'
	touch $@

# The test tools and the training extra (torch, transformers, datasets) for its tests.
$(TEST_INSTALLED): setup.py | $(INSTALLED)
	$(PY) -m pip install -q -e '.[spark,test,train]'
	touch $@

# Delta Lake JARs from Maven Central into .jars/, checksum-verified; never at run time.
$(JARS): runtime/jars.py | $(INSTALLED)
	$(PY) -m runtime.jars
	touch $@

# Debian's Chromium, driven by Playwright; Playwright's own browser download is never used.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

clean:
	rm -rf work spark-warehouse
