# Two commands on a fresh machine: `make run` (index the corpus, serve the chat) and
# `make test` (the whole suite; `make test-fast` runs the unit tests alone, in seconds).
# Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install dictionary ocr run chat browser test test-fast lint bench bench-quick eval eval-heldout fit clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP) dictionary ocr

# Debian's German-English Ding dictionary: English questions over German documents are
# matched word by word (assistant/retrieve/bilingual.py). Compiled once into ~/.cache/doc-assistant.
DING := /usr/share/trans/de-en
dictionary: $(STAMP)
	@test -f $(DING) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "WARNING: cannot install trans-de-en (not root, no sudo): English questions will not be translated for German documents"; exit 0; fi; \
	  echo "installing Debian's trans-de-en (German-English dictionary)"; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq trans-de-en >/dev/null; } \
	  || echo "WARNING: apt could not install trans-de-en: English questions will not be translated for German documents"; }
	@test ! -f $(DING) || $(PY) -c "from assistant.retrieve.bilingual import Dictionary; Dictionary.load()" \
	  || echo "WARNING: could not compile the dictionary $(DING); it is compiled on first use"

# Debian's Tesseract with German and English: scanned PDF pages (no text layer) are read
# by OCR (assistant/ingest/ocr.py); without it such PDFs are skipped with a warning.
ocr:
	@{ command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx deu \
	  && tesseract --list-langs 2>/dev/null | grep -qx eng; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "WARNING: cannot install tesseract-ocr (not root, no sudo): scanned PDFs will not be indexed"; exit 0; fi; \
	  echo "installing Debian's tesseract-ocr (OCR of scanned PDFs, German and English)"; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng >/dev/null; } \
	  || echo "WARNING: apt could not install tesseract-ocr: scanned PDFs will not be indexed"; }

run: install
	$(VENV)/bin/assistant serve

chat: install
	$(VENV)/bin/assistant chat

lint: install
	$(PY) -m ruff check assistant ui tests bench
	$(PY) -m ruff format --check assistant ui tests bench

# Debian's Chromium for the end-to-end browser test (nothing downloads a browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "WARNING: cannot install chromium (not root, no sudo): the browser test will be skipped"; exit 0; fi; \
	  echo "installing Debian's chromium for the browser test"; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "WARNING: apt could not install chromium: the browser test will be skipped"; }

# Two pytest workers, a test file each (module fixtures are built once): most slow tests
# wait on servers, subprocesses and browsers, so two files at a time fit two cores.
PYTEST_WORKERS ?= 2
test: install browser
	$(PY) -m ruff check assistant ui tests bench
	$(PY) -m pytest -q -ra -n $(PYTEST_WORKERS) --dist loadfile

# The fast loop: unit tests only, no index of a real corpus, no servers, no browser.
test-fast: install
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) index/chroma.sqlite3 index/*/ .pytest_cache

screenshots: install browser
	$(PY) docs/make_screenshots.py

bench: install
	$(PY) bench/run.py

bench-quick: install
	$(PY) bench/run.py --quick

eval: install
	ASSISTANT_CORPUS_DIR=../shared/bench/xquad/docs ASSISTANT_INDEX_DIR=$${TMPDIR:-/tmp}/xquad-index \
	  $(VENV)/bin/assistant eval ../shared/bench/xquad/questions.jsonl --out eval-out

# Held-out quality on the two development corpora (README, "Quality"): XQuAD's German
# articles with the English documents ("mixed"), and the German laws with the same English
# documents ("laws"); each corpus is also asked the other one's questions (off-topic).
DEV := $${TMPDIR:-/tmp}/assistant-dev
eval-heldout: install
	mkdir -p $(DEV)/mixed/corpus $(DEV)/laws/corpus
	cp ../shared/bench/xquad/docs/* ../shared/bench/mixed-en/docs/* $(DEV)/mixed/corpus/
	cp ../shared/bench/laws-de/docs/* ../shared/bench/mixed-en/docs/* $(DEV)/laws/corpus/
	ASSISTANT_CORPUS_DIR=$(DEV)/mixed/corpus ASSISTANT_INDEX_DIR=$(DEV)/mixed/index \
	  $(VENV)/bin/assistant eval ../shared/bench/xquad/questions.jsonl bench/data/nearmiss.jsonl \
	  bench/data/mixed_answerable.jsonl bench/data/offtopic.jsonl bench/data/laws_answerable.jsonl \
	  --split heldout --out eval-out/mixed
	ASSISTANT_CORPUS_DIR=$(DEV)/laws/corpus ASSISTANT_INDEX_DIR=$(DEV)/laws/index \
	  $(VENV)/bin/assistant eval bench/data/laws_answerable.jsonl bench/data/laws_nearmiss.jsonl \
	  bench/data/mixed_answerable.jsonl bench/data/offtopic.jsonl \
	  --split heldout --out eval-out/laws

# Refit the answerability models on the fit split and write their coefficients into the code.
fit: install
	$(PY) bench/fit_answerability.py --root $(DEV) --write
