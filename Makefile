# pyselect: build, test, run and trace. `make help` lists the targets.

CARGO    ?= cargo
HOST     := 127.0.0.1
PORTS    := 5050,5060
MODE     := multiplex
MESSAGE  := hi
TRACEDIR := target/strace
SERVER   := target/release/pyselect-server
CLIENT   := target/release/pyselect-client
# The syscalls worth reading in a trace of these programs.
STRACE_FILTER := trace=socket,bind,listen,setsockopt,ioctl,accept,accept4,select,pselect6,poll,recvfrom,sendto,write,close,shutdown,rt_sigaction,getsockname,connect,getsockopt,getpeername

.PHONY: help all build release test lint fmt fmt-check clippy doc bench deps \
        run-server run-clients demo strace-server strace-clients clean

help:
	@echo "make run-server   run the server (MODE=$(MODE) PORTS=$(PORTS) HOST=$(HOST))"
	@echo "make run-clients  one client per port, as the seed's two client scripts"
	@echo "make demo         server in the background, both clients, server stopped"
	@echo "make strace-server / strace-clients   the same under strace -f, trace in $(TRACEDIR)/"
	@echo "make test         lint plus every test;  make lint, make doc, make bench"

all: build

build:
	$(CARGO) build --all-targets

release:
	$(CARGO) build --release --bins

# Tools the tests and traces use: python3 (CPython is the reference) and strace.
deps:
	@./.ci/deps

fmt:
	$(CARGO) fmt

fmt-check:
	$(CARGO) fmt -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

lint: fmt-check clippy

test: deps lint doc
	$(CARGO) test --lib --bins --tests
	$(CARGO) test --doc

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

bench:
	python3 bench/run.py

run-server: release
	$(SERVER) --host '$(HOST)' --ports $(PORTS) --mode $(MODE)

run-clients: release
	@for p in $$(echo $(PORTS) | tr ',' ' '); do \
	  $(CLIENT) --host '$(HOST)' --port $$p --message '$(MESSAGE)' || exit 1; \
	done

demo: release
	@./scripts/demo.sh '$(HOST)' '$(PORTS)' '$(MODE)'

strace-server: release deps
	@mkdir -p $(TRACEDIR)
	@echo "tracing the server into $(TRACEDIR)/server.trace (Ctrl-C to stop)"
	strace -f -tt -s 256 -e $(STRACE_FILTER) -o $(TRACEDIR)/server.trace \
	  $(SERVER) --host '$(HOST)' --ports $(PORTS) --mode $(MODE)

strace-clients: release deps
	@mkdir -p $(TRACEDIR)
	@for p in $$(echo $(PORTS) | tr ',' ' '); do \
	  strace -f -tt -s 256 -e $(STRACE_FILTER) -o $(TRACEDIR)/client-$$p.trace \
	    $(CLIENT) --host '$(HOST)' --port $$p --message '$(MESSAGE)' || exit 1; \
	  echo "trace written to $(TRACEDIR)/client-$$p.trace"; \
	done

clean:
	$(CARGO) clean
