#!/usr/bin/env python3
"""What the CCTV costs as the watched set grows.

1. Per call: one readiness call with timeout 0 and one fd ready, against K watched fds:
   select() for K = 1 to 1,000 (pyselect::select with Vec<RawFd>, pyselect/benches/select_cost.rs,
   beside the C floor bench/select_floor.c), Poll::poll and Epoll::poll for K = 1 to 10,000
   (pyselect/benches/poll_epoll_cost.rs, beside bench/poll_epoll_floor.c). CPU time per call of the
   measuring thread; contenders alternating so a busy neighbour hits both; select the median
   of the rounds, poll and epoll the best. The table gives pyselect's ratio to C at every K and
   checks issue 8's target (Poll::poll and Epoll::poll <= 1.05x at K = 1, 64 and 1,000).

2. Per served connection: server CPU per transaction of `pyselect-server --mode multiplex
   --backend B` while `pyselect-client --backend epoll --hold M` keeps M idle connections open
   (0, 100, 1,000; 5,000 and 10,000 for poll and epoll; up to 1,000 in a quick run), server and
   load generator on one CPU. Measured as the difference between two load runs of different
   lengths (N and N/5 transactions, N from 1,500 down to 300 as M grows) with the same M held,
   so opening and closing the held connections cancels out. Needs `--backend` on the server and `--hold` on the client (SPEC); when either binary
   lacks them, this part is skipped with a note and the rest runs.

Run alone: `python3 bench/run.py --only scaling` (several minutes, most of it part 2), or
`python3 bench/run.py --only calls` for part 1 alone (about half a minute), or as part of
`make bench`.
Writes scaling.json, scaling.md, scaling_calls.svg (and scaling_held.svg when part 2 ran)
into <target>/bench/.
"""

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
import build  # noqa: E402
from common import DRIVER_CPU, RUN, SERVER_CPU, log, note, pin, spawn, stop  # noqa: E402
from micro import Contender  # noqa: E402
from servers import cpu_ns  # noqa: E402
from svg import line_chart  # noqa: E402

SELECT_KS = [1, 10, 64, 100, 1000]
POLL_KS = [1, 10, 64, 100, 1000, 5000, 10_000]
# Issue 8's target: Poll::poll and Epoll::poll within 1.05x of the C program at these K.
TARGET_KS = [1, 64, 1000]
TARGET_RATIO = 1.05
HOLDS = {"select": [0, 100, 1000], "poll": [0, 100, 1000, 5000, 10_000], "epoll": [0, 100, 1000, 5000, 10_000]}
SUMMARY_RE = re.compile(r"^summary kind=(\w+) k=(\d+) pyselect_cpu_ns=([\d.]+)(?: c_floor_cpu_ns=([\d.]+))?")


def rounds():
    return {"smoke": 1, "quick": 5}.get(RUN.mode, 9)


def select_calls(floor_exe, cost_exe):
    """{(contender, K): median CPU ns per call, one ready} for select()."""
    klist = ",".join(map(str, SELECT_KS))
    procs = []
    if floor_exe:
        procs.append(Contender("c-floor", [floor_exe, klist, "stdin"]))
    if cost_exe:
        procs.append(Contender("pyselect", [cost_exe, klist, "stdin", "pyselect-int"]))
    samples = {}
    try:
        for rep in range(rounds()):
            for k in SELECT_KS:
                m = max(20, int(2e7 / (k * 55 + 450)) // (5 if RUN.mode == "smoke" else 1))
                order = procs if rep % 2 == 0 else procs[::-1]
                for c in order:
                    one = [r for r in c.measure(k, m, 120) if r["ready"] == 1]
                    samples.setdefault((c.name, k), []).append(one[0]["ns"])
    finally:
        for c in procs:
            c.close()
    return {key: statistics.median(v) for key, v in samples.items()}


def poll_epoll_calls(exe):
    """{(kind, contender, K): CPU ns per call} from pyselect/benches/poll_epoll_cost.rs (best of rounds)."""
    # Best of more rounds in a full run (about 20 s): the ratios at K = 1, 64 and 1,000 are a
    # target, and one quiet round per contender is what "best of" needs on a shared machine.
    scale = {"smoke": 0.05, "quick": 0.3}.get(RUN.mode, 1.0)
    n = {"smoke": 1, "quick": 5}.get(RUN.mode, 15)
    cmd = [str(exe), str(n), str(scale), ",".join(map(str, POLL_KS))]
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pin(p.pid, SERVER_CPU)
    try:
        out, err = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        stop(p)
        note("poll_epoll_cost did not finish in 10 minutes")
        return {}
    if p.returncode != 0:
        note(f"poll_epoll_cost failed: {err.strip()[-400:]}")
    res = {}
    for line in out.splitlines():
        m = SUMMARY_RE.match(line)
        if m:
            kind, k = m[1], int(m[2])
            res[(kind, "pyselect", k)] = float(m[3])
            if m[4]:
                res[(kind, "c-floor", k)] = float(m[4])
    return res


# --------------------------------------------------------------------------
# Part 2: server CPU per transaction with idle connections held


def help_text(exe):
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def driver_setup():
    """In the load generator, before exec: as many fds as allowed, and the server's CPU (as
    servers.py places them: no cross-CPU wake-up per transaction)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pin(0, DRIVER_CPU)


def open_fds(pid):
    """How many fds process `pid` has open (its /proc/PID/fd entries)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for_fds(pid, count, limit=120.0):
    """Wait (at most `limit` seconds) until process `pid` has at most `count` fds open."""
    deadline = time.monotonic() + limit
    while open_fds(pid) > count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def held_cost(server_exe, client_exe):
    """{(backend, held): server CPU ns per transaction}, or None when the binaries lack the
    options (noted)."""
    missing = []
    if "--backend" not in help_text(server_exe):
        missing.append("pyselect-server has no --backend")
    client_help = help_text(client_exe)
    for opt in ("--hold", "--backend"):
        if opt not in client_help:
            missing.append(f"pyselect-client has no {opt}")
    if missing:
        note(
            "scaling: server CPU per transaction with idle connections held skipped: "
            + "; ".join(missing)
            + " (SPEC's options, from the poll/epoll backends work)"
        )
        return None
    res = {}
    largest = {"smoke": 100, "quick": 1000}.get(RUN.mode, 10_000)
    if largest < 10_000:
        note(f"scaling: held connections measured up to {largest} in a {RUN.mode} run (10,000 in a full one)")
    for backend, holds in HOLDS.items():
        for held in holds:
            if held > largest:
                continue
            # Two load runs whose difference is the measurement: long enough to read, short
            # enough that 10,000 held fds scanned per wake-up (poll) stay within seconds.
            long_ = max(100, min(1500, int(3e6 / (held + 100))))
            if RUN.mode == "smoke":
                long_ = 60
            short = long_ // 5
            srv = spawn(
                [server_exe, "--mode", "multiplex", "--backend", backend, "--quiet", "--ports", "0,0",
                 "--idle-timeout", "3600"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            line = srv.stderr.readline()
            while line and "listening on" not in line:
                line = srv.stderr.readline()
            if not line:
                stop(srv)
                note(f"scaling: pyselect-server --backend {backend} did not start")
                continue
            port = next(int(w.rsplit(":", 1)[1]) for w in line.split() if w.rsplit(":", 1)[-1].isdigit())
            pin(srv.pid, SERVER_CPU)
            idle_fds = open_fds(srv.pid)
            cpu = []
            for n in (short, long_):
                before = cpu_ns(srv.pid)
                # The load generator always multiplexes with epoll: it must hold up to 10,000
                # fds whatever the server's backend, and its own cost is not measured.
                cl = subprocess.run(
                    [str(client_exe), "--port", str(port), "--connections", str(n), "--concurrency", "1",
                     "--backend", "epoll", "--hold", str(held)],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    preexec_fn=driver_setup,
                )
                if cl.returncode != 0:
                    note(f"scaling: client --backend {backend} --hold {held} failed: {cl.stderr.strip()[-300:]}")
                    cpu = []
                    break
                # The client is gone, but the server may still be reading the EOFs of the held
                # connections (with poll, each round scans all that are left): read its CPU time
                # once it is back to its idle fd count, so no run's tail spills into the next.
                if not wait_for_fds(srv.pid, idle_fds):
                    note(f"scaling: --backend {backend} --hold {held}: the server kept fds open")
                cpu.append(cpu_ns(srv.pid) - before)
            stop(srv)
            if len(cpu) == 2:
                res[(backend, held)] = (cpu[1] - cpu[0]) / (long_ - short)
                log(f"scaling: --backend {backend} --hold {held}: {res[(backend, held)] / 1e3:.1f} µs server CPU/tx")
    return res


# --------------------------------------------------------------------------


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.0f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def ratio(calls, kind, k):
    rs, c = calls.get((kind, "pyselect", k)), calls.get((kind, "c-floor", k))
    return rs / c if rs is not None and c else None


def tables(calls, held, held_part=True):
    ks = sorted({k for *_, k in calls})
    lines = [
        "CPU time per call, timeout 0, one of K watched fds ready, and pyselect's ratio to the C "
        "program making the same call (select: medians of the rounds; poll and epoll: the best "
        "round of each, `cargo bench --bench poll_epoll_cost -- ROUNDS SCALE "
        + ",".join(map(str, POLL_KS))
        + "`):",
        "",
        "| K watched | select() | C select | ratio | Poll::poll | C poll | ratio | Epoll::poll | C epoll_wait | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in ks:
        cells = [f"{k:,}"]
        for kind in ("select", "poll", "epoll"):
            for who in ("pyselect", "c-floor"):
                cells.append(fmt_ns(calls.get((kind, who, k))))
            r = ratio(calls, kind, k)
            cells.append("-" if r is None else f"{r:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Target (issue 8): Poll::poll and Epoll::poll ≤ {TARGET_RATIO:.2f}x the C program at K = "
                 + ", ".join(f"{k:,}" for k in TARGET_KS) + ".")
    lines.append("")
    for kind, label in (("poll", "Poll::poll"), ("epoll", "Epoll::poll")):
        for k in TARGET_KS:
            r = ratio(calls, kind, k)
            if r is None:
                lines.append(f"- **not measured**: {label} at K = {k:,}")
                continue
            verdict = "**met**" if r <= TARGET_RATIO else "**MISSED**"
            extra = calls[(kind, "pyselect", k)] - calls[(kind, "c-floor", k)]
            lines.append(f"- {verdict}: {label} at K = {k:,}: {r:.2f}x ({fmt_ns(extra)} over C's "
                         f"{fmt_ns(calls[(kind, 'c-floor', k)])})")
    lines.append("")
    if not held_part:
        pass
    elif held is None:
        lines.append(
            "Server CPU per transaction with idle connections held: not measured here "
            "(needs `pyselect-server --backend` and `pyselect-client --hold`)."
        )
    else:
        holds = sorted({h for _, h in held})
        lines += [
            "Server CPU per transaction (multiplex mode, concurrency 1) with M idle connections held:",
            "",
            "| M held | " + " | ".join(f"--backend {b}" for b in HOLDS) + " |",
            "|---|" + "---|" * len(HOLDS),
        ]
        for h in holds:
            lines.append(f"| {h:,} | " + " | ".join(fmt_ns(held.get((b, h))) for b in HOLDS) + " |")
    return "\n".join(lines) + "\n"


def charts(calls, held):
    colors = {"select": "#d62728", "poll": "#1f77b4", "epoll": "#2ca02c"}
    series = []
    for kind, label in (("select", "select()"), ("poll", "Poll::poll"), ("epoll", "Epoll::poll")):
        for who, dash in (("pyselect", False), ("c-floor", True)):
            pts = sorted((k, ns) for (kd, w, k), ns in calls.items() if kd == kind and w == who)
            series.append(
                dict(label=f"{label}" if who == "pyselect" else f"C floor ({kind})", points=pts, dash=dash, color=colors[kind])
            )
    line_chart(
        RUN.out / "scaling_calls.svg",
        "One readiness call against the number of watched fds (one ready)",
        series,
        "watched fds (log scale)",
        "CPU time per call (log scale)",
        xlog=True,
        ylog=True,
        fmt_y=fmt_ns,
        fmt_x=lambda v: f"{int(v):,}",
        note="timeout 0; median (select) or best (poll, epoll) of short rounds on a shared 2-core machine",
    )
    if held:
        series = [
            dict(label=f"--backend {b}", points=sorted((h, ns) for (bb, h), ns in held.items() if bb == b), color=colors[b])
            for b in HOLDS
        ]
        line_chart(
            RUN.out / "scaling_held.svg",
            "Server CPU per transaction with M idle connections held",
            series,
            "idle connections held (M)",
            "server CPU per transaction",
            fmt_y=fmt_ns,
            fmt_x=lambda v: f"{int(v):,}",
            note="pyselect-server --mode multiplex; pyselect-client --concurrency 1 --hold M",
        )


def run_and_write(held_part=True):
    """Build, measure, write scaling.json/.md/.svg; the markdown. held_part=False (`run.py
    --only calls`) measures the per-call part only."""
    built = build.build_c() if not (RUN.bin / "select_floor").exists() else {"select_floor": RUN.bin / "select_floor"}
    exes, err = build.cargo_build(
        ["--bench", "select_cost", "--bench", "poll_epoll_cost", "--bin", "pyselect-server", "--bin", "pyselect-client"],
        900,
    )
    if err:
        note(f"scaling: cargo build reported: {err}")
    calls = {}
    if built.get("select_floor") or exes.get("select_cost"):
        log("scaling: select() per call, K = " + ", ".join(map(str, SELECT_KS)))
        for (who, k), ns in select_calls(built.get("select_floor"), exes.get("select_cost")).items():
            calls[("select", who, k)] = ns
    if exes.get("poll_epoll_cost"):
        log("scaling: Poll::poll and Epoll::poll per call, K = " + ", ".join(map(str, POLL_KS)))
        calls.update(poll_epoll_calls(exes["poll_epoll_cost"]))
    held = None
    if not held_part:
        note("scaling: per-call part only (--only calls); server CPU with connections held not measured")
    elif exes.get("pyselect-server") and exes.get("pyselect-client"):
        held = held_cost(exes["pyselect-server"], exes["pyselect-client"])
    data = dict(
        mode=RUN.mode,
        calls=[dict(kind=a, contender=b, k=k, cpu_ns=v) for (a, b, k), v in sorted(calls.items())],
        held=None if held is None else [dict(backend=b, held=h, cpu_ns_per_tx=v) for (b, h), v in sorted(held.items())],
    )
    (RUN.out / "scaling.json").write_text(json.dumps(data, indent=1) + "\n")
    text = tables(calls, held, held_part)
    (RUN.out / "scaling.md").write_text(text)
    charts(calls, held)
    return text


if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, os.path.join(os.path.dirname(__file__), "run.py"), "--only", "scaling"])
