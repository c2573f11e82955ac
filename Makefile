# The two commands of the README: `make run` and `make test`.
# Each one first runs scripts/setup.sh, which installs only what is missing.

CARGO ?= cargo
HARNESS := target/release/harness
# The default experiment of `make run`; override with `make run CONFIG=configs/dropout.ron`.
CONFIG ?= configs/quickstart.ron

.PHONY: study-cpu-bf16 study-report-bf16 precision run install build test bench bench-full setup clean-runs study-cpu study-report study-records protocol protocol-report examples examples-report study-gpu-report

# The study's nine tables (configs at the study's full protocol), run as one plan under the
# CPU protocol chosen from the frontier (reports/protocol.md). Its overrides live in ONE place,
# configs/study-cpu.args, which study-cpu, study-report, study-records and the README share.
# Variants estimated to take longer than STUDY_MAX_TRIAL per trial here are shown as
# "not run on this machine (estimated ...)".
STUDY := architectures augmentation batchnorm channels dropout kernel lr optimizer scheduler
STUDY_CONFIGS := $(STUDY:%=configs/%.ron)
STUDY_CPU_SETS := $(shell grep -v '^\#' configs/study-cpu.args)
STUDY_MAX_TRIAL ?= 30m

setup:
	@scripts/setup.sh

build: setup
	@$(CARGO) build --release --quiet -p harness

# Its report goes to runs/reports/ (untracked, like the rest of runs/), never into the
# committed reports/ or README.md: a fresh clone stays clean. The committed tables change only
# through the *-report targets, from the committed records.
RUN_REPORTS ?= runs/reports

run: build
	$(HARNESS) replicate $(CONFIG) --reports $(RUN_REPORTS) --readme /dev/null

# Puts `harness` on the PATH: $(PREFIX)/bin/harness (default ~/.local/bin), built like
# `make build` (its rpath to the cached libtorch kept, so no LD_LIBRARY_PATH).
PREFIX ?= $(HOME)/.local

install: setup
	$(CARGO) install --quiet --locked --path crates/harness --root $(PREFIX)
	@echo "installed $(PREFIX)/bin/harness; put $(PREFIX)/bin on your PATH if it is not"

# Trains the study (hours on a CPU; interrupt and rerun at will, here or on another machine:
# the committed records in results/ are copied into runs/ first and not trained again), then
# copies its records into the committed store results/.
study-cpu: build
	@# Carry on where the committed records stopped (on a new machine too): they are copied
	@# into runs/ first, so only the missing trials train.
	$(HARNESS) export records $(STUDY_CONFIGS) $(STUDY_CPU_SETS) --runs results --out runs
	$(HARNESS) replicate $(STUDY_CONFIGS) $(STUDY_CPU_SETS) --device cpu --jobs auto --max-trial-time $(STUDY_MAX_TRIAL)
	$(HARNESS) export records $(STUDY_CONFIGS) $(STUDY_CPU_SETS) --out results

# The same nine tables at the bf16 point (configs/study-cpu-bf16.args; about 7 hours of 2
# cores with native bf16), as one plan, run from a copy of the binary so a rebuild cannot
# replace it mid-run. Its records live in their own store, results-cpu-bf16/ (one store per
# protocol, as results-h200/ per GPU): in results/ they would be "other settings" of the fp32
# tables' variants and change those reports with every trial. Rerun to resume.
STUDY_BF16_SETS := $(shell grep -v '^\#' configs/study-cpu-bf16.args)

study-cpu-bf16: build
	$(HARNESS) export records $(STUDY_CONFIGS) $(STUDY_BF16_SETS) --runs results-cpu-bf16 --out runs
	cp $(HARNESS) runs/harness-study
	runs/harness-study replicate $(STUDY_CONFIGS) $(STUDY_BF16_SETS) --device cpu --jobs auto --max-trial-time $(STUDY_MAX_TRIAL) --reports runs/reports-bf16 --readme /dev/null
	$(HARNESS) export records $(STUDY_CONFIGS) $(STUDY_BF16_SETS) --out results-cpu-bf16
	$(HARNESS) report $(STUDY_CONFIGS) $(STUDY_BF16_SETS) --runs results-cpu-bf16 --reports reports/cpu-bf16

# Regenerates the nine bf16 reports into reports/cpu-bf16/ and the README's study sections
# (their markers name results-cpu-bf16), without training: a fresh clone stays clean.
study-report-bf16: build
	$(HARNESS) report $(STUDY_CONFIGS) $(STUDY_BF16_SETS) --runs results-cpu-bf16 --reports reports/cpu-bf16
	$(HARNESS) report $(PRECISION_CONFIGS) --seeds 3 --runs results-cpu-bf16 --reports reports/cpu-bf16

# bf16 against fp32 at the bf16 point, 4 conv and 2 conv, 3 seeds (configs/precision*.ron):
# the gate for the tables above. Only the fp32 trials train (about an hour of 2 cores); the
# bf16 ones are the study's own, copied from results-cpu-bf16/ first. Rerun to resume.
PRECISION_CONFIGS := configs/precision.ron configs/precision-2conv.ron

precision: build
	$(HARNESS) export records $(PRECISION_CONFIGS) --seeds 3 --runs results-cpu-bf16 --out runs
	cp $(HARNESS) runs/harness-study
	runs/harness-study replicate $(PRECISION_CONFIGS) --seeds 3 --device cpu --jobs auto --reports runs/reports --readme /dev/null
	$(HARNESS) export records $(PRECISION_CONFIGS) --seeds 3 --out results-cpu-bf16
	$(HARNESS) report $(PRECISION_CONFIGS) --seeds 3 --runs results-cpu-bf16 --reports reports/cpu-bf16

# Copies the study's finished records from runs/ into results/ (no checkpoints, no plots).
study-records: build
	$(HARNESS) export records $(STUDY_CONFIGS) $(STUDY_CPU_SETS) --out results

# Regenerates the nine fp32 reports (reports/<name>.md) from the committed records, without
# training: on a fresh clone it leaves `git status` clean. The README's study sections show
# the bf16 tables (study-report-bf16); this leaves them alone and says so.
study-report: build
	$(HARNESS) report $(STUDY_CONFIGS) $(STUDY_CPU_SETS) --runs results

# The protocol frontier (configs/protocol.ron: 2 conv and 4 conv under reduced protocols,
# 2 seeds, all test images; hours on 2 cores), its records copied into results/, and
# reports/protocol.md with its plot.
protocol: build
	$(HARNESS) export records configs/protocol.ron --runs results --out runs
	$(HARNESS) replicate configs/protocol.ron --device cpu --jobs 2 --threads 1
	$(HARNESS) export records configs/protocol.ron --out results

protocol-report: build
	$(HARNESS) report configs/protocol.ron --runs results

# The architectures table at the study's OWN protocol (60,000 images, 30 epochs, 3 seeds) on
# a GPU: scripts/cuda-check.sh ran it on one NVIDIA H200 (its records are in results-h200/);
# study-gpu-report regenerates reports/h200/ from them without training.
GPU_STORE := results-h200

study-gpu-report: build
	$(HARNESS) report configs/architectures.ron --seeds 3 --runs $(GPU_STORE) --reports reports/h200 --readme /dev/null

# The README's quickstart and variance tables (2 conv, 3 epochs; about 25 minutes on 2
# cores), their records copied into results/; examples-report regenerates them from there.
EXAMPLES := configs/quickstart.ron configs/variance.ron

examples: build
	$(HARNESS) export records $(EXAMPLES) --runs results --out runs
	$(HARNESS) replicate $(EXAMPLES) --device cpu --jobs 2 --threads 1
	$(HARNESS) export records $(EXAMPLES) --out results

examples-report: build
	$(HARNESS) report $(EXAMPLES) --runs results

# The crates that must build without libtorch (the dashboard and what it reads through).
STANDALONE := contract store spec statistics reporting cluster dashboard

test:
	@scripts/setup.sh --test
	$(CARGO) fmt --all --check
	@# ARCHITECTURE.md's dependency block equals cargo metadata; no declared dependency unused.
	python3 scripts/check_architecture.py
	@# The redesign's measures: the binary <= 1,200 code lines, no file over 600 lines, no
	@# function in experiment over 100 lines.
	python3 scripts/loc.py --check
	@# The dashboard and the crates it reads the store through build without warnings and pass
	@# their tests without libtorch and without the execution crate (experiment). Alone they
	@# resolve other dependency features, so they build in their own target folder, which
	@# CI (.ci/run sets HARNESS_CLEAN_STANDALONE) removes at once to spare the disk.
	@if $(CARGO) tree -p dashboard -e normal,build --prefix none | grep -qE '^(tch|torch-sys|experiment) '; then \
		echo "cargo tree -p dashboard shows libtorch (tch) or experiment: the dashboard must build without them" >&2; exit 1; fi
	RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/standalone $(CARGO) test --quiet $(STANDALONE:%=-p %)
	@if [ -n "$$HARNESS_CLEAN_STANDALONE" ]; then rm -rf target/standalone; fi
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	python3 bench/test_compare.py

# The default finishes in about 15 minutes on 2 cores: the two architectures without
# augmentation, 5 alternating pairs of 2,048-image epochs, the reference at 0 and 2 workers,
# and on a CPU with native bf16 (avx512_bf16 or amx_bf16) the bf16 rows (ours bf16 vs ours
# fp32 vs PyTorch's CPU autocast; `BENCH_ARGS='... --precisions fp32'` leaves them out).
# `make bench-full` adds the augmented variants, 4,096-image epochs and 1 worker (~45 min).
BENCH_ARGS ?= --variants conv2,conv4 --pairs 5 --train-limit 2048 --workers 0,2

bench:
	@scripts/setup.sh --bench
	@$(CARGO) build --release --quiet -p harness
	bench/compare.sh $(BENCH_ARGS)

bench-full:
	@scripts/setup.sh --bench
	@$(CARGO) build --release --quiet -p harness
	bench/compare.sh

# Our trainer against plain PyTorch (bench/reference/train_reference.py, torchvision from
# `scripts/setup.sh --bench`) on the study's baseline: conv2 and conv4, 12 epochs, full data,
# 3 seeds per side, all cores -> reports/parity.md. Long on CPU (about 5 hours on 2 cores);
# interrupt and rerun at will: finished runs of either side are reused.
.PHONY: parity parity-study
parity: build
	@scripts/setup.sh --bench
	$(HARNESS) parity

# Parity at the study's CPU protocol (configs/parity-study.ron): our side's trials are the
# study's own 2 conv and 4 conv trials (same ids), copied from results/ first, so only the
# missing ones train; PyTorch's side trains 3 seeds each, 1 thread like the study's jobs
# -> reports/parity.md, and the trials' own table -> reports/parity-study.md. About 40
# minutes on 2 cores when the study's trials are there.
parity-study: build
	@scripts/setup.sh --bench
	$(HARNESS) export records configs/parity-study.ron --runs results --out runs
	$(HARNESS) parity --config configs/parity-study.ron --threads 1 --archs 'conv2,conv4,conv2 bf16,conv4 bf16'
	$(HARNESS) export records configs/parity-study.ron --out results
	$(HARNESS) report configs/parity-study.ron --runs results
