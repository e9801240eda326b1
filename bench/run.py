#!/usr/bin/env python3
"""`make bench`: pyselect against C and CPython, in one interleaved run.

Builds everything it needs (cc for the C baselines in bench/, cargo for the
select_cost bench and the two binaries), then measures:

1. select() cost per call, timeout 0, K watched socketpairs, nothing ready and
   one ready: the C floor (bench/select_floor.c), CPython's select.select with
   ints and with socket objects (bench/select_cpython.py), nix's FdSet select,
   and pyselect::select with Vec<RawFd> and with &UnixStream
   (pyselect/benches/select_cost.rs).  Every contender is a long-lived process that
   measures on command, and the runner asks them in turn, measurement by
   measurement, rotating the order, so that a slow patch on this shared machine
   hits all of them alike.  Ratios are per repetition against the C floor's
   measurement of the same K in the same round; the table shows medians.

2. Servers: a C serial select server, a C Stevens-style multiplexed server,
   the seed's Python server, pyselect-server --mode select and --mode
   multiplex, driven in turn by a load generator at concurrency 1 and 16:
   server CPU per transaction (/proc/PID/schedstat), latency at
   concurrency 1, syscalls per connection (strace -c, when strace is there),
   and peak RSS (VmHWM) over a long run.

Results: <target>/bench/results.json, results.csv, results.md and
select_cost.svg, where <target> is cargo's target directory (target/, or
CARGO_TARGET_DIR); the markdown table is printed at the end.

Environment: BENCH_QUICK=1 for the short variant; BENCH_DRIVER=client|c to
pick the load generator (default: pyselect-client when it builds, else
bench/c_loadgen.c); CC for the C compiler.  `--smoke` runs every section once
with tiny counts (about a minute, into <target>/bench-smoke/): it checks that
the runner works and measures nothing worth reading.
Only loopback traffic; every spawned process is stopped by its pid; every
loop is bounded in count and time.

This file only sequences the run.  Each section is a module of its own
beside it: common.py (configuration, logging, processes, CPU placement,
statistics), build.py (building, and locating what cargo built), micro.py
(section 1), servers.py (section 2), report.py (JSON, CSV, markdown) and
svg.py (the chart).  The later sections, each runnable alone with --only, write
their own files: wait.py (the seed's wait), scaling.py (readiness calls against
the watched set; --only calls for its per-call part), burst.py (500 connects
at once against the listen queue) and peers.py (the buffer-reusing calls beside C and
the nix, rustix, mio and polling crates).  A new section is a new module with a
run_...() that returns its results, called from main() and reported by report.py.
"""

import argparse
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
import build  # noqa: E402
import common  # noqa: E402
from common import RUN, RUNNER_CPU, START, log, note, pin, shown, stop_all  # noqa: E402
from micro import run_micro  # noqa: E402
from report import machine_info, write_outputs  # noqa: E402
from servers import run_servers  # noqa: E402
import burst  # noqa: E402
import peers  # noqa: E402
import scaling  # noqa: E402
import wait  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description="make bench: pyselect against C and CPython")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every section once with tiny counts, into <target>/bench-smoke/ (checks the runner)",
    )
    parser.add_argument(
        "--only",
        choices=["wait", "scaling", "calls", "burst", "peers"],
        help="run one later section alone: wait (the seed's wait, bench/wait.py), scaling "
        "(readiness calls against the watched set, bench/scaling.py), calls (scaling's per-call "
        "part only: select, Poll::poll and Epoll::poll beside C) or burst (500 connects at once "
        "against the listen queue, bench/burst.py) or peers (the buffer-reusing calls beside C, "
        "nix, rustix, mio and polling, bench/peers.py)",
    )
    args = parser.parse_args()
    if args.smoke:
        common.configure("smoke")
    RUN.out = build.target_dir() / ("bench-smoke" if RUN.mode == "smoke" else "bench")
    RUN.bin = RUN.out / "bin"
    RUN.out.mkdir(parents=True, exist_ok=True)
    if args.only:
        text = run_later_sections(args.only)
        print()
        print(text)
        log(f"done in {time.monotonic() - START:.0f}s; results under {shown(RUN.out)}/")
        return
    log(f"{RUN.mode} run; results under {shown(RUN.out)}/")
    info = machine_info()

    log("building C baselines")
    built = build.build_c()
    log("building pyselect/benches/select_cost.rs (cargo build --release --bench select_cost)")
    exes, err = build.cargo_build(["--bench", "select_cost"], 540)
    if err:
        note(
            "pyselect/benches/select_cost.rs did not build, so the nix and pyselect select rows are missing "
            "(cargo builds the binaries with every bench, so a broken binary stops it too):\n    "
            + err.replace("\n", "\n    ")
        )
    log("building pyselect-server and pyselect-client")
    bins, err = build.cargo_build(["--bin", "pyselect-server", "--bin", "pyselect-client"], 540)
    if err:
        note(
            "pyselect-server/pyselect-client did not build (the server section runs without them):\n    "
            + err.replace("\n", "\n    ")
        )
    exes.update(bins)

    cmds = {}  # contender -> (program and leading args, MODE argument or None)
    if "select_floor" in built:
        cmds["c-floor"] = ([built["select_floor"]], None)
    for mode in ("int", "obj"):
        cmds[f"cpython-{mode}"] = ([sys.executable, common.ROOT / "bench" / "select_cpython.py"], mode)
    if "select_cost" in exes:
        for mode in ("nix", "pyselect-int", "pyselect-stream"):
            cmds[mode] = ([exes["select_cost"]], mode)

    pin(0, RUNNER_CPU)  # after the builds, which use every core
    micro = run_micro(cmds)
    try:
        srv = run_servers(built, exes)
    finally:
        stop_all()
    text = write_outputs(info, micro, srv)
    # The later sections write their own files and add their tables to results.md.
    later = run_later_sections()
    with open(RUN.out / "results.md", "a") as f:
        f.write("\n" + later)
    text += "\n" + later
    print()
    print(text)
    log(
        f"done in {time.monotonic() - START:.0f}s; wrote results.json, results.csv, results.md, select_cost.svg, wait.*, scaling.*, burst.* and the charts in {shown(RUN.out)}/"
    )


def run_later_sections(only=None):
    """Section 3, the seed's wait (bench/wait.py), section 4, the readiness calls against
    the watched set (bench/scaling.py), and section 5, a burst of connects against the listen
    queue (bench/burst.py), and the buffer-reusing calls beside the peers (bench/peers.py); each
    writes its own files. Their markdown."""
    out = []
    if only in (None, "wait"):
        exes, err = build.cargo_build(["--bin", "pyselect-server"], 540)
        if "pyselect-server" in exes:
            window = {"smoke": 2.0, "quick": 8.0}.get(RUN.mode, 15.0)
            res = wait.run_wait(exes["pyselect-server"], window)
            out.append("## The seed's wait (bench/wait.py)\n\n" + wait.write_outputs(res))
        else:
            note(f"the wait section needs pyselect-server, which did not build: {err}")
    if only in (None, "scaling", "calls"):
        out.append(
            "## Readiness calls against the watched set (bench/scaling.py)\n\n"
            + scaling.run_and_write(held_part=only != "calls")
        )
    if only in (None, "peers"):
        out.append("## The reusing calls beside C and the peers (bench/peers.py)\n\n" + peers.run_and_write())
    if only in (None, "burst"):
        out.append("## A burst of 500 connects against the listen queue (bench/burst.py)\n\n" + burst.run_and_write())
    return "\n".join(out)


if __name__ == "__main__":
    main()
