# pyselect: build, test, run and trace. `make help` lists the targets.

# Each setting can be given on the command line (make demo HOST=::1), and all but HOST in the
# environment too: some shells (tcsh) export HOST as the machine's name, which is no address.
# HOST '' is the seed's '' (all interfaces); PORTS may hold 0s (the kernel picks; make demo
# then uses the ports the server reports).
CARGO    ?= cargo
HOST     := 127.0.0.1
PORTS    ?= 5050,5060
MODE     ?= multiplex
# The multiplexed loop's readiness call (MODE=multiplex): select, poll or epoll; empty is the
# server's default, select.
BACKEND  ?=
MESSAGE  ?= hi
TRACEDIR ?= target/strace
export CARGO
# pyselect-py (PyO3) is built for the python3 first on PATH, by every cargo call alike, so that
# lint, doc and the staged module share one build of it.
PYO3_PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
export PYO3_PYTHON
# The binaries are wherever cargo builds them (CARGO_TARGET_DIR, build.target-dir, a --target
# triple): scripts/cargo-bin builds them and prints the paths cargo reports, so an old
# target/release/ is never run instead.
BIN := ./scripts/cargo-bin
# A make value as one shell word, whatever quotes it holds.
quote = '$(subst ','\'',$(1))'
comma := ,
# --backend, when BACKEND is set.
BACKEND_ARG = $(if $(BACKEND), --backend $(call quote,$(BACKEND)))
# The ports the clients use: a blocking-mode server listens on the first one only.
CLIENT_PORTS = $(if $(filter blocking,$(MODE)),$(firstword $(subst $(comma), ,$(PORTS))),$(subst $(comma), ,$(PORTS)))
# Only `make deps` and `make test` install anything. The targets that need a tool check for it
# first and, when it is missing, say so in one line and stop: $(call need,strace).
need = command -v $(1) >/dev/null 2>&1 || { \
  echo "make $@: $(1) is not installed (not on PATH): run 'make deps', or 'apt-get install $(1)'" >&2; exit 1; }
# The syscalls worth reading in a trace of these programs.
STRACE_FILTER := trace=socket,bind,listen,setsockopt,ioctl,accept,accept4,select,pselect6,poll,recvfrom,sendto,write,close,shutdown,rt_sigaction,getsockname,connect,getsockopt,getpeername,epoll_create1,epoll_ctl,epoll_wait

.PHONY: help all build release test lint fmt fmt-check clippy doc msrv-check bench deps \
        run-server run-clients demo strace-server strace-clients compare clean \
        cpython-tests py-stage py-run

help:
	@echo "make run-server   run the server (MODE=$(MODE) PORTS=$(PORTS) HOST=$(HOST) BACKEND=$(BACKEND))"
	@echo "                  BACKEND=select|poll|epoll: multiplex mode's readiness call (default select)"
	@echo "make run-clients  one client per port (the first only for MODE=blocking), MESSAGE=$(MESSAGE)"
	@echo "make demo         server in the background, a client per port it reports, server stopped"
	@echo "make strace-server / strace-clients   the same under strace -f, trace in $(TRACEDIR)/ (BACKEND= too)"
	@echo "make compare      one connection, pyselect beside CPython under strace (MODE=, BACKEND= for multiplex)"
	@echo "make test         lint plus every test;  make lint, make doc, make msrv-check, make bench"
	@echo "make cpython-tests  CPython's own select/poll/epoll/selectors tests against pyselect (pyselect-py/)"
	@echo "make py-run PROG=x.py  run a Python program with pyselect's select in place of select"
	@echo "binaries: where cargo builds them (CARGO_TARGET_DIR honoured); scripts/cargo-bin NAME prints the path"

all: build

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release --bins

# Tools the tests and traces use: python3 (CPython is the reference) and strace.
deps:
	@./.ci/deps

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint: fmt-check clippy

test: deps lint doc msrv-check
	$(CARGO) test --workspace --lib --bins --tests
	$(CARGO) test --workspace --doc
	$(MAKE) --no-print-directory cpython-tests

# Cargo.lock builds with the declared rust-version (no older toolchain needed to check it).
msrv-check:
	./scripts/msrv-check

# CPython's own test_select, test_poll, test_epoll, test_selectors and _test_eintr's select
# part, unmodified, with pyselect (pyselect-py/) standing in for select, then for selectors;
# one line per suite. Built for, and run by, the python3 first on PATH.
cpython-tests: deps
	python3 pyselect-py/cpython_tests.py

# The Python module, built for python3 and staged; prints the directory for PYTHONPATH.
py-stage:
	@python3 pyselect-py/stage.py

# A Python program on pyselect's select (SELECTORS=1: and selectors):
#   make py-run PROG=path/to/seed_select_server.py
py-run:
	@test -n "$(PROG)" || { echo "usage: make py-run PROG=program.py [SELECTORS=1]"; exit 2; }
	@stage=$$(python3 pyselect-py/stage.py) && PYTHONPATH="$$stage" exec python3 -m pyselect_py.run \
	  $(if $(SELECTORS),--selectors) $(call quote,$(PROG))

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

bench:
	python3 bench/run.py

run-server:
	@server=$$($(BIN) pyselect-server) && set -x && exec \
	  "$$server" --host $(call quote,$(HOST)) --ports $(call quote,$(PORTS)) --mode $(call quote,$(MODE))$(BACKEND_ARG)

run-clients:
	@client=$$($(BIN) pyselect-client) && set -x && \
	for p in $(CLIENT_PORTS); do \
	  "$$client" --host $(call quote,$(HOST)) --port "$$p" --message $(call quote,$(MESSAGE)) || exit 1; \
	done

demo:
	@./scripts/demo.sh $(call quote,$(HOST)) $(call quote,$(PORTS)) $(call quote,$(MODE)) $(call quote,$(MESSAGE)) $(call quote,$(BACKEND))

strace-server:
	@$(call need,strace) && server=$$($(BIN) pyselect-server) && mkdir -p $(call quote,$(TRACEDIR)) && \
	echo "tracing the server into $(TRACEDIR)/server.trace (Ctrl-C to stop)" && set -x && \
	strace -f -tt -s 256 -e $(STRACE_FILTER) -o $(call quote,$(TRACEDIR))/server.trace \
	  "$$server" --host $(call quote,$(HOST)) --ports $(call quote,$(PORTS)) --mode $(call quote,$(MODE))$(BACKEND_ARG)

strace-clients:
	@$(call need,strace) && client=$$($(BIN) pyselect-client) && mkdir -p $(call quote,$(TRACEDIR)) && \
	for p in $(CLIENT_PORTS); do \
	  (set -x; strace -f -tt -s 256 -e $(STRACE_FILTER) -o $(call quote,$(TRACEDIR))/client-$$p.trace \
	    "$$client" --host $(call quote,$(HOST)) --port "$$p" --message $(call quote,$(MESSAGE))) || exit 1; \
	  echo "trace written to $(TRACEDIR)/client-$$p.trace"; \
	done

# One connection through pyselect-server and through the matching CPython program, each under
# strace, side by side (pyselect-cli/examples/compare.rs). MODE as above; BACKEND=select|poll|epoll picks
# multiplex mode's readiness call (and CPython's selectors class); unset, the select loop.
compare:
	@$(call need,strace) && $(call need,python3) && bins=$$($(BIN) pyselect-server pyselect-client) && \
	server=$$(printf '%s\n' "$$bins" | sed -n 1p) && client=$$(printf '%s\n' "$$bins" | sed -n 2p) && \
	$(CARGO) run --release --quiet -p pyselect-cli --example compare -- --mode $(call quote,$(MODE)) \
	  $(if $(BACKEND),--backend $(call quote,$(BACKEND))) --server "$$server" --client "$$client"

clean:
	$(CARGO) clean
