# cairn — top-level entry points. See README.md.
#   make run    install deps, build (release), start a dev agent on 127.0.0.1:8500
#   make test   install deps, build with ASan+UBSan, run unit, integration, fault and fuzz tiers
#   make sim    SEEDS=N deterministic Raft simulation over N seeds (default 100000)
#   make bench  install bench deps (wrk, etcd, nginx), build release, print figures
#   make fault  RUNS=N DURATION=S servers in network namespaces under faults (root)

SHELL := /bin/bash
JOBS ?= 2
REL := build/release
ASAN := build/asan
FUZZ := build/fuzz
FUZZ_SECONDS ?= 10
PYTEST ?= /usr/bin/python3 -m pytest

SEEDS ?= 100000

.PHONY: all deps build build-asan build-fuzz run test unit integration fuzz fault-quick fault sim bench format clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(REL) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_TESTS=OFF >/dev/null
	@ninja -C $(REL) -j$(JOBS) cairn

build-asan: deps
	@cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN) -j$(JOBS)

build-fuzz: deps
	@CC=clang-14 cmake -S . -B $(FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_FUZZ=ON -DCAIRN_TESTS=OFF >/dev/null
	@ninja -C $(FUZZ) -j$(JOBS)

run: build
	./$(REL)/cairn agent -dev

test: build-asan
	@$(MAKE) --no-print-directory unit integration fault-quick fuzz

unit:
	ctest --test-dir $(ASAN) --output-on-failure -j$(JOBS)

integration:
	CAIRN_BIN=$(CURDIR)/$(ASAN)/cairn $(PYTEST) -q tests/integration

# Fault harness (tests/fault/, docs/testing.md): checker unit tests, three short
# seeded runs (3 servers: leader isolation, halves, kill -9) and the broken-mode
# self-check. Needs root for network namespaces; skipped otherwise.
fault-quick:
	CAIRN_BIN=$(CURDIR)/$(ASAN)/cairn $(PYTEST) -q tests/fault

# Longer runs: RUNS runs of DURATION seconds from SEED (default random),
# alternating 3 and 5 servers, every fault kind (NEMESES=kill,halves,... to choose).
# FAULT_BIN picks the binary.
RUNS ?= 4
DURATION ?= 60
FAULT_SERVERS ?= 3,5
FAULT_BIN ?= $(CURDIR)/$(ASAN)/cairn
fault: deps
	@cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN) -j$(JOBS) cairn
	CAIRN_BIN=$(FAULT_BIN) /usr/bin/python3 tests/fault/harness.py -v --runs $(RUNS) \
	  --duration $(DURATION) --servers $(FAULT_SERVERS) $(if $(SEED),--seed $(SEED)) \
	  $(if $(NEMESES),--nemeses $(NEMESES))

fuzz: build-fuzz
	@./scripts/run-fuzz.sh $(FUZZ)/tests/fuzz $(FUZZ_SECONDS)

# Deterministic Raft simulation: scripted scenarios, then SEEDS random seeds
# (release build; `make test` runs 2,000 seeds under ASan through ctest).
sim: deps
	./scripts/sim.sh $(SEEDS)

bench: build
	@./scripts/install-deps.sh --bench
	CAIRN_BIN=$(CURDIR)/$(REL)/cairn ./bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
