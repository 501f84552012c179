# Every target creates .venv with the machine's python3 and installs what it needs,
# so each one works as the only command on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# make test-llm: the example agent against a real model on an OpenAI-compatible server.
# When nothing answers at LOCAL_LLM_URL, LOCAL_LLM_TOOLS/local-llm.sh start is tried.
LOCAL_LLM_URL ?= http://127.0.0.1:8765/v1
LOCAL_LLM_MODEL ?= openai/gemma-3-270m
LOCAL_LLM_TOOLS ?= $(firstword $(wildcard ../shared/tools ../../shared/tools) ../shared/tools)

.PHONY: demo test test-llm lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/penguiflow demo --yes

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

test-llm: $(STAMP)
	@$(BIN)/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/models', timeout=5)" \
		$(LOCAL_LLM_URL) 2>/dev/null \
	|| $(LOCAL_LLM_TOOLS)/local-llm.sh start \
	|| { echo "make test-llm: no model server answers at $(LOCAL_LLM_URL) and" \
		"'$(LOCAL_LLM_TOOLS)/local-llm.sh start' failed; start an OpenAI-compatible server" \
		"(docs/local-models.md) and pass LOCAL_LLM_URL=... LOCAL_LLM_MODEL=..."; exit 1; }
	PENGUIFLOW_LOCAL_LLM_URL=$(LOCAL_LLM_URL) PENGUIFLOW_LOCAL_LLM_MODEL=$(LOCAL_LLM_MODEL) \
		$(BIN)/pytest -q -m local_llm tests/local_llm

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
