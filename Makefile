# The two commands of the README: `make run` and `make test`.
# Each one first runs scripts/setup.sh, which installs only what is missing.

CARGO ?= cargo
HARNESS := target/release/harness
# The default experiment of `make run`; override with `make run CONFIG=configs/dropout.ron`.
CONFIG ?= configs/quickstart.ron

.PHONY: run build test bench setup clean-runs

setup:
	@scripts/setup.sh

build: setup
	@$(CARGO) build --release --quiet -p harness

run: build
	$(HARNESS) replicate $(CONFIG)

test:
	@scripts/setup.sh --test
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

bench:
	@scripts/setup.sh --bench
	@$(CARGO) build --release --quiet -p harness
	bench/compare.sh
