#!/usr/bin/env python3
"""The buffer-reusing calls against C and the peers, in one interleaved run.

benches/peers_cost.rs measures, at K = 1, 64, 1,000 (select) and 1, 64, 1,000, 10,000 (poll,
epoll), one readiness call with timeout 0 and one of K fds ready: pyselect's reusing calls
(select_into, Poll::poll_into, Epoll::poll_into) and its Python-shaped ones, the C programs
bench/select_floor.c and bench/poll_epoll_floor.c, the same C loop written in Rust over libc,
nix, rustix, mio and polling. Contenders alternate measurement by measurement; CPU time per
call of the measuring thread; the table gives each contender's median per-round ratio to C and
checks issue 18's target (the reusing calls at most 1.02x C).

Run alone: `python3 bench/run.py --only peers` (about a minute), or as part of `make bench`.
Writes peers.json, peers.md and peers.svg into <target>/bench/.
"""

import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
import build  # noqa: E402
from common import RUN, SERVER_CPU, log, note, pin, spawn, stop  # noqa: E402
from svg import line_chart  # noqa: E402

TARGET = 1.02
SUMMARY_RE = re.compile(
    r"^summary kind=(\w+) k=(\d+) contender=(\S+) best_cpu_ns=([\d.]+) c_best_cpu_ns=([\d.]+) "
    r"best_ratio=([\d.]+) median_ratio=([\d.]+) found=(\d+)"
)
LABELS = {
    "c": "C",
    "libc": "Rust over libc (C's loop)",
    "pyselect-into": "pyselect reusing",
    "pyselect": "pyselect Python-shaped",
    "nix": "nix",
    "rustix": "rustix",
    "mio": "mio",
    "polling": "polling",
}
CALLS = {"select": "select_into", "poll": "Poll::poll_into", "epoll": "Epoll::poll_into"}


def measure(exe):
    rounds = {"smoke": 1, "quick": 5}.get(RUN.mode, 11)
    scale = {"smoke": 0.05, "quick": 0.5}.get(RUN.mode, 1.0)
    p = spawn([str(exe), str(rounds), str(scale)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pin(p.pid, SERVER_CPU)
    try:
        out, err = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        stop(p)
        note("peers_cost did not finish in 10 minutes")
        return [], rounds
    if p.returncode != 0:
        note(f"peers_cost failed: {err.strip()[-400:]}")
    rows = []
    for line in out.splitlines():
        m = SUMMARY_RE.match(line)
        if m:
            rows.append(
                dict(
                    kind=m[1],
                    k=int(m[2]),
                    contender=m[3],
                    best_ns=float(m[4]),
                    c_best_ns=float(m[5]),
                    best_ratio=float(m[6]),
                    median_ratio=float(m[7]),
                    found=int(m[8]),
                )
            )
    return rows, rounds


def fmt_ns(ns):
    return f"{ns / 1e3:.1f} µs" if ns >= 1e4 else f"{ns:.0f} ns"


def tables(rows, rounds):
    idx = {(r["kind"], r["k"], r["contender"]): r for r in rows}
    lines = [
        f"CPU time per call, timeout 0, one of K watched fds ready; median over {rounds} interleaved "
        "rounds of the per-round ratio to C (the C column: its best round). "
        "`cargo bench --bench peers_cost -- ROUNDS SCALE`.",
        "",
    ]
    for kind in ("select", "poll", "epoll"):
        who = [w for w in LABELS if any(r["kind"] == kind and r["contender"] == w for r in rows)]
        if not who:
            continue
        ks = sorted({r["k"] for r in rows if r["kind"] == kind})
        lines += [f"**{kind}**", "", "| K | " + " | ".join(LABELS[w] for w in who) + " |", "|---|" + "---|" * len(who)]
        for k in ks:
            cells = [f"{k:,}"]
            for w in who:
                r = idx.get((kind, k, w))
                if not r:
                    cells.append("-")
                elif w == "c":
                    cells.append(fmt_ns(r["best_ns"]))
                else:
                    nothing = " (found 0)" if r["found"] == 0 else ""
                    cells.append(f"{r['median_ratio']:.2f}x{nothing}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"Target (issue 18): the reusing calls at most {TARGET:.2f}x C at every K measured.")
    lines.append("")
    for kind, call in CALLS.items():
        for r in sorted((r for r in rows if r["kind"] == kind and r["contender"] == "pyselect-into"), key=lambda r: r["k"]):
            verdict = "**met**" if r["median_ratio"] <= TARGET else "**MISSED**"
            lines.append(
                f"- {verdict}: {call} at K = {r['k']:,}: {r['median_ratio']:.2f}x "
                f"(best rounds {fmt_ns(r['best_ns'])} against C's {fmt_ns(r['c_best_ns'])})"
            )
    return "\n".join(lines) + "\n"


def chart(rows):
    series = []
    for kind in ("select", "poll", "epoll"):
        for w in LABELS:
            if w == "c":
                continue
            pts = sorted((r["k"], r["median_ratio"]) for r in rows if r["kind"] == kind and r["contender"] == w)
            if pts:
                series.append(dict(label=f"{kind}: {LABELS[w]}", points=pts, dash=w != "pyselect-into", color=None))
    line_chart(
        RUN.out / "peers.svg",
        "Readiness calls: ratio to C per call (one ready)",
        series,
        "watched fds K (log scale)",
        "CPU time per call / C's (log scale)",
        xlog=True,
        ylog=True,
        fmt_y=lambda v: f"{v:g}x",
        fmt_x=lambda v: f"{int(v):,}",
        note="timeout 0; medians of interleaved rounds on a shared 2-core machine; mio is edge-triggered and finds 0",
    )


def run_and_write():
    exes, err = build.cargo_build(["--bench", "peers_cost"], 900)
    if "peers_cost" not in exes:
        note(f"peers: benches/peers_cost.rs did not build: {err}")
        return "(not measured: benches/peers_cost.rs did not build)\n"
    log("peers: select_into, poll_into, epoll poll_into beside C, nix, rustix, mio, polling")
    rows, rounds = measure(exes["peers_cost"])
    (RUN.out / "peers.json").write_text(json.dumps(dict(mode=RUN.mode, rounds=rounds, rows=rows), indent=1) + "\n")
    text = tables(rows, rounds)
    (RUN.out / "peers.md").write_text(text)
    chart(rows)
    return text


if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, os.path.join(os.path.dirname(__file__), "run.py"), "--only", "peers"])
