# Every target that runs code depends on $(STAMP): .venv is created or refreshed when it is missing
# or older than pyproject.toml / constraints.txt, and skipped (fast) when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS ?= -q --disable-pip-version-check
OUT ?= runs

.PHONY: setup test test-fast demo lint bench bench-peers clean video-demo translate-demo music-demo \
        translate-multi30k music-jsb video-gtea

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# pytest exits 5 when it collects no tests; that is a failure here, like any other non-zero code.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check seq2seq tests datasets
	$(BIN)/ruff format --check seq2seq tests datasets

demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --out $(OUT)/demo

bench: $(STAMP)
	$(BIN)/python -m seq2seq.bench --out $(OUT)/bench --docs

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache

# -- music: next-step prediction of piano rolls and text (docs/music.md) ----------------------
JSB_MAT ?= data/polyphonic/JSB_Chorales.mat
JSB_FROM ?= $(firstword $(wildcard ../shared/data/polyphonic/JSB_Chorales.mat) \
            http://www-etud.iro.umontreal.ca/~boulanni/JSB%20Chorales.pickle)

music-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only music --out $(OUT)/demo

$(JSB_MAT):
	$(BIN)/python datasets/prepare_polyphonic.py --dataset jsb --from "$(JSB_FROM)" --out $(dir $(JSB_MAT))

# Retrains from scratch (the run folder is replaced), then prints the test NLL of the checkpoint
# chosen on the validation split.
music-jsb: $(STAMP) $(JSB_MAT)
	rm -rf $(OUT)/music-jsb
	$(BIN)/python -m seq2seq train recipes/music/jsb.toml --out $(OUT)/music-jsb --set data.path=$(JSB_MAT)
	$(BIN)/python -m seq2seq evaluate -m $(OUT)/music-jsb/best.pt --split test
