# Two commands do all set-up: `make demo` and `make test`. Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# GPU=1: ONNX Runtime's CUDA build (onnxruntime-gpu) in place of onnxruntime, see README, GPU.
GPU ?= 0
ORT_BUILD := $(if $(filter 1,$(GPU)),gpu,cpu)
STAMP := $(VENV)/.installed-$(ORT_BUILD)
# Apache Superset (`make bi`, the `bi` tests) in its own venv: its pins clash with the project's.
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed
# The Spark engine's extra (`pip install -e '.[spark]'`), installed by `make test` and
# `make spark-setup`, not by `make demo`.
SPARK_STAMP := $(VENV)/.installed-spark
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_PROJECT_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

.PHONY: setup redis chromium java spark-setup bi-setup bi demo build summary test lint docs bench clean

setup: $(STAMP)

# Reinstall only when the dependency list changes (or GPU= changes), so repeated runs are fast.
# onnxruntime and onnxruntime-gpu provide the same module and overwrite each other's files:
# exactly one is installed, the other removed first.
$(STAMP): pyproject.toml requirements/encoders.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed $(VENV)/.installed-*
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip uninstall -q -y onnxruntime-gpu
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
	  -r requirements/encoders.txt
ifeq ($(ORT_BUILD),gpu)
	$(BIN)/python -m pip uninstall -q -y onnxruntime
	$(BIN)/python -m pip install -q --disable-pip-version-check \
	  'onnxruntime-gpu[cuda,cudnn]>=1.20' 'nvidia-cublas>=13,<14'
endif
	touch $(STAMP)

# The tests start a real redis-server (Debian package) on 127.0.0.1; install it if missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "Installing redis-server (Debian package) for the online-store tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q redis-server; }

# The report test renders the HTML in headless Chromium (Debian package); install it if missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing chromium (Debian package) for the report test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

# Spark runs on Java 17 (Debian's openjdk-17-jre-headless); install it if missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "Installing openjdk-17-jre-headless (Debian package) for the Spark engine"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q openjdk-17-jre-headless; }

# The Spark engine: pyspark and dbt-spark (the [spark] extra) and Java 17.
spark-setup: $(SPARK_STAMP) java

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,spark]'
	touch $(SPARK_STAMP)

# Superset and its pinned dependencies (bi/requirements.txt); reinstalled only when that
# file changes, so `make test` pays for it once.
bi-setup: $(BI_STAMP)

$(BI_STAMP): bi/requirements.txt
	test -x $(BI_VENV)/bin/python || $(PYTHON) -m venv $(BI_VENV)
	rm -f $(BI_STAMP)
	$(BI_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BI_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bi/requirements.txt
	touch $(BI_STAMP)

# The BI server on 127.0.0.1:8088 with the shipped dashboard, in the foreground (Ctrl-C stops
# it); it prints the URL and the login it created. After `make demo`.
bi: setup bi-setup
	$(BIN)/cartcast bi

demo: setup
	$(BIN)/cartcast demo

build: setup
	$(BIN)/dbt build

summary: setup
	$(BIN)/cartcast summary

test: setup redis chromium bi-setup spark-setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

docs: setup
	$(BIN)/dbt docs generate

bench: setup redis
	$(BIN)/python bench/features.py --quick
	$(BIN)/python bench/materialize.py --quick

clean:
	rm -rf warehouse target logs
