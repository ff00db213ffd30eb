# Two commands on a fresh machine: `make run` (index the corpus, serve the chat) and
# `make test` (the whole suite). Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run chat test lint bench eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/assistant index
	$(VENV)/bin/assistant chat

chat: install
	$(VENV)/bin/assistant chat

lint: install
	$(PY) -m ruff check assistant ui tests bench
	$(PY) -m ruff format --check assistant ui tests bench

test: install
	$(PY) -m ruff check assistant ui tests
	$(PY) -m pytest -q -ra

clean:
	rm -rf $(VENV) index/chroma.sqlite3 index/*/ .pytest_cache
