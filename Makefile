# cairn — top-level entry points. See README.md.
#   make run    install deps, build (release), start a dev agent on 127.0.0.1:8500
#   make test   install deps, check formatting, build with ASan+UBSan, run unit,
#               integration, fault and fuzz tiers
#   make tsan   build with ThreadSanitizer (build/tsan), run unit and integration tiers
#   make format-check   clang-format --dry-run -Werror over every tracked .c/.h
#   make sim    SEEDS=N deterministic Raft simulation over N seeds (default 100000)
#   make bench-gossip   gossip figures: simulator (100, 1,000 members) and real processes
#   make bench  install bench deps (wrk, etcd, nginx), build release, print figures
#   make fault  RUNS=N DURATION=S servers in network namespaces under faults (root)
#   make install    PREFIX=/usr/local DESTDIR= : release build, then cmake --install
#   make uninstall  remove what make install installed (build/release's manifest)
#   make deb        Debian package with dpkg-buildpackage (in build/deb/)
#   make test-deb   build the .deb, install it here, run the agent, purge (root)

SHELL := /bin/bash
JOBS ?= 2
REL := build/release
ASAN := build/asan
TSAN := build/tsan
FUZZ := build/fuzz
FUZZ_SECONDS ?= 10
PYTEST ?= /usr/bin/python3 -m pytest
PREFIX ?= /usr/local

SEEDS ?= 100000

.PHONY: all deps build build-asan build-fuzz build-tsan run test unit integration fuzz tsan \
	fault-quick fault sim bench format format-check clean install uninstall deb test-deb bench-lb \
	bench-gossip

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(REL) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_TESTS=OFF >/dev/null
	@ninja -C $(REL) -j$(JOBS) cairn

build-asan: deps
	@cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN) -j$(JOBS)

# ThreadSanitizer (not combinable with ASan): the writer thread, the snapshot
# thread and the snapshot fork(). scripts/tsan.supp says why each entry is benign.
build-tsan: deps
	@cmake -S . -B $(TSAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_TSAN=ON >/dev/null
	@ninja -C $(TSAN) -j$(JOBS)

build-fuzz: deps
	@CC=clang-14 cmake -S . -B $(FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_FUZZ=ON -DCAIRN_TESTS=OFF >/dev/null
	@ninja -C $(FUZZ) -j$(JOBS)

run: build
	./$(REL)/cairn agent -dev

test: format-check build-asan
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
	@./scripts/run-fuzz.sh $(FUZZ)/tests/fuzz $(FUZZ_SECONDS) $(FUZZ)/artifacts

# Unit tier minus the random-seed sweeps (the single-threaded Raft core: nothing
# for TSan to find, and ~3 min each under it), then the integration tier.
TSAN_ENV := TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 suppressions=$(CURDIR)/scripts/tsan.supp"
tsan: build-tsan
	$(TSAN_ENV) ctest --test-dir $(TSAN) --output-on-failure -j$(JOBS) -E '^sim_sweep'
	$(TSAN_ENV) CAIRN_BIN=$(CURDIR)/$(TSAN)/cairn $(PYTEST) -q tests/integration

# Deterministic Raft simulation: scripted scenarios, then SEEDS random seeds
# (release build; `make test` runs 2,000 seeds under ASan through ctest).
sim: deps
	./scripts/sim.sh $(SEEDS)

bench: build
	@./scripts/install-deps.sh --bench
	CAIRN_BIN=$(CURDIR)/$(REL)/cairn ./bench/run.sh

# make install [PREFIX=/usr/local] [DESTDIR=...]: the cairn binary, libcairn
# (shared and static), include/cairn/*.h and cairn.pc (CMake install() rules).
install: deps
	@cmake -S . -B $(REL) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_TESTS=OFF \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@ninja -C $(REL) -j$(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(REL) --prefix $(PREFIX)

# bench/lb: the lb figures (docs/lb.md)
bench-lb:
	./bench/lb/run.sh

# Gossip figures (docs/benchmarks.md "Gossip"): the simulator at 100 and 1,000
# members (SIZES, SECS), Lifeguard on and off; then kill -9 / SIGSTOP of a
# server of three real processes (RUNS).
bench-gossip: deps
	./bench/gossip.sh
	@cmake -S . -B $(REL) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(REL) -j$(JOBS) cairn
	CAIRN_BIN=$(CURDIR)/$(REL)/cairn RUNS=$${RUNS:-8} /usr/bin/python3 bench/gossip_kill.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h') || \
	  { echo "format-check: run 'make format' (clang-format $$(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))"; exit 1; }

clean:
	rm -rf build

# Uninstall (docs/packaging.md). Every install rule is CMake's install() (the
# binary, man pages, completion, unit, config, docs, libcairn), so `make
# install` above is one `cmake --install`, and its install_manifest.txt is
# what uninstall removes (give the same DESTDIR).
DESTDIR ?=
uninstall:
	@./scripts/uninstall.sh $(REL)/install_manifest.txt dist/cairn.hcl $(DESTDIR)

# Debian package: dpkg-buildpackage from a copy of the tracked tree (a clean
# clone's content, plus uncommitted changes) in build/deb/; the .deb lands
# in build/deb/.
deb:
	@./scripts/install-deps.sh --deb
	./scripts/build-deb.sh build/deb

# Packaging test (tests/packaging/): builds the .deb, installs it on this
# machine (root), checks user, dirs, conffile, unit, serves, purges.
test-deb: deb
	$(PYTEST) -q tests/packaging
