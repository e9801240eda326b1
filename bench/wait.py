#!/usr/bin/env python3
"""The seed's wait, measured: how long a client waits for its reply from `pyselect-server
--mode timeout` (the seed's settimeout(1) round robin) and `--mode select` (the CCTV), with 2,
4 and 10 ports.

Per (mode, ports): SERVERS[mode] servers are started (10 in timeout mode, 1 in select mode), each `--mode MODE --ports 0,0,... --quiet`,
and each gets one stream of clients, one client at a time: a uniform random pause (up to a
second in timeout mode, the length of one accept attempt; up to 10 ms in select mode), then a
client on one of its ports picked at random connects, sends `hi` and reads the reply to EOF.
So each client arrives at a random moment of an otherwise idle server's round, as in the seed's
claim ("with 10 ports a client may wait 10 seconds, though the server is doing nothing"); the
servers run side by side only to collect more clients per second. The wait is the time from
just before connect() to the end of the reply (it includes the Python client's own overhead,
some tens of microseconds). Random choices come from a fixed seed. Each configuration runs for
a window (15 s by default, `--window`; select mode at most 3 s); a client that started in it
is waited for. Expected: in timeout mode a client waits up to (ports - 1) seconds (the rest of
the attempt in progress plus one whole second for each port before its own); in select mode
the time it takes to serve it.

Run alone: `python3 bench/wait.py` (about a minute; `--window 5` for a short look), or as part
of `make bench` (`python3 bench/run.py`, or `python3 bench/run.py --only wait`). Writes
wait.json, wait.md and wait.svg into <target>/bench/ and prints the table.

Only loopback; every server is stopped by its pid, which also ends any client still waiting.
"""

import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
import build  # noqa: E402
from common import RUN, log, note, shown, spawn, stop  # noqa: E402
from svg import line_chart  # noqa: E402

MODES = ("timeout", "select")
PORT_COUNTS = (2, 4, 10)
SEED = 1859
# Servers measured side by side, each with one client at a time: ten in timeout mode, where a
# client waits seconds; one in select mode, where a client is served at once and more client
# threads in this one Python process would only measure their contention for its lock.
SERVERS = {"timeout": 10, "select": 1}
# The pause before a select-mode client, at most: arrival moments do not matter to select,
# which answers whenever a client comes; this only spreads the clients out.
SELECT_PAUSE = 0.01


def start_server(exe, mode, n):
    """pyselect-server --mode MODE --ports 0,...(n) --quiet; (process, ports) once listening."""
    p = spawn(
        [exe, "--mode", mode, "--ports", ",".join(["0"] * n), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = p.stderr.readline()  # the listening line, or "" if it exited
    if "listening on" not in line:
        stop(p)
        raise RuntimeError(f"pyselect-server --mode {mode} did not start: {line.strip()}")
    # Keep reading stderr so the server never blocks on it.
    threading.Thread(target=p.stderr.read, daemon=True).start()
    ports = [int(w.rsplit(":", 1)[1]) for w in line.split() if ":" in w and w.rsplit(":", 1)[1].isdigit()]
    return p, ports


def transact(port):
    """One client as the seed's: connect, send hi, read to EOF. (seconds waited, reply). The
    socket is made before the clock starts; the address is given as numbers, so nothing is
    looked up; the socket blocks, as the seed's does (a timeout would add a poll per call). A
    client cannot hang the run: the server is stopped when the window ends, which ends its
    connections."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t0 = time.perf_counter()
    with s:
        s.connect(("127.0.0.1", port))
        s.sendall(b"hi")
        reply = b""
        while True:
            chunk = s.recv(1024)
            if not chunk:
                break
            reply += chunk
    return time.perf_counter() - t0, reply


def measure(exe, mode, n, window, rng):
    """The waits (seconds) of every client in one configuration, and the errors seen."""
    servers = []
    try:
        for _ in range(SERVERS[mode]):
            servers.append(start_server(exe, mode, n))
        waits, errors = [], []
        lock = threading.Lock()
        end = time.monotonic() + window
        pause_max = 1.0 if mode == "timeout" else SELECT_PAUSE

        def stream(ports, r):
            while True:
                pause = r.uniform(0, pause_max)
                if time.monotonic() + pause >= end:
                    return
                time.sleep(pause)
                port = r.choice(ports)
                try:
                    wait, reply = transact(port)
                except OSError as e:
                    with lock:
                        errors.append(f"port {port}: {e}")
                    return
                with lock:
                    if reply == f"welcome {port}!".encode():
                        waits.append(wait)
                    else:
                        errors.append(f"port {port}: reply {reply!r}")

        threads = [
            threading.Thread(target=stream, args=(ports, random.Random(rng.random())), daemon=True)
            for _, ports in servers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=window + n + 90)
        return waits, errors
    finally:
        for p, _ in servers:
            stop(p)


def summary(waits):
    xs = sorted(waits)
    if not xs:
        return dict(n=0, median=None, p90=None, max=None)
    p90 = statistics.quantiles(xs, n=10, method="inclusive")[8] if len(xs) > 1 else xs[0]
    return dict(n=len(xs), median=statistics.median(xs), p90=p90, max=xs[-1])


def run_wait(exe, window=15.0):
    """Every (mode, ports) configuration in turn; the results as plain data."""
    rng = random.Random(SEED)
    rows = []
    for mode in MODES:
        for n in PORT_COUNTS:
            w = window if mode == "timeout" else min(window, 3.0)
            log(f"wait: --mode {mode} with {n} ports, clients arriving for {w:.0f} s")
            try:
                waits, errors = measure(exe, mode, n, w, rng)
            except RuntimeError as e:
                note(f"wait: {e}")
                continue
            for e in errors[:3]:
                note(f"wait: --mode {mode}, {n} ports: {e}")
            rows.append(dict(mode=mode, ports=n, window_s=w, errors=len(errors), waits=waits, **summary(waits)))
    return dict(window_s=window, seed=SEED, rows=rows)


def fmt_s(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def wait_table(res):
    lines = [
        "| mode | ports | clients | median wait | p90 | max |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['mode']} | {r['ports']} | {r['n']} | {fmt_s(r['median'])} | {fmt_s(r['p90'])} | {fmt_s(r['max'])} |"
        )
    return lines


def write_wait_svg(res, path):
    series = []
    colors = {"timeout": "#d62728", "select": "#1f77b4"}
    for mode in MODES:
        rows = [r for r in res["rows"] if r["mode"] == mode]
        for stat, dash in (("max", False), ("median", True)):
            series.append(
                dict(
                    label=f"{mode} mode, {stat}",
                    points=[(r["ports"], r[stat]) for r in rows],
                    dash=dash,
                    color=colors[mode],
                )
            )
    line_chart(
        path,
        "A client's wait from connect to reply, against the number of ports",
        series,
        "ports the server listens on",
        "wait (log scale)",
        ylog=True,
        fmt_y=fmt_s,
        fmt_x=lambda v: str(int(v)),
        note="pyselect-server --mode timeout (settimeout(1), round robin) and --mode select; "
        "one client at a time per server, arriving at random moments (shared 2-core machine)",
    )


def write_outputs(res):
    (RUN.out / "wait.json").write_text(json.dumps(res, indent=1) + "\n")
    text = "\n".join(wait_table(res)) + "\n"
    (RUN.out / "wait.md").write_text(text)
    write_wait_svg(res, RUN.out / "wait.svg")
    return text


def main():
    import argparse

    parser = argparse.ArgumentParser(description="the seed's wait: timeout mode against select mode")
    parser.add_argument("--window", type=float, default=15.0, help="seconds of arrivals per timeout-mode configuration")
    args = parser.parse_args()
    RUN.out = build.target_dir() / "bench"
    RUN.out.mkdir(parents=True, exist_ok=True)
    log("building pyselect-server (cargo build --release --bin pyselect-server)")
    exes, err = build.cargo_build(["--bin", "pyselect-server"], 540)
    if "pyselect-server" not in exes:
        sys.exit(f"wait: pyselect-server did not build: {err}")
    res = run_wait(exes["pyselect-server"], args.window)
    text = write_outputs(res)
    print()
    print(text)
    log(f"wrote wait.json, wait.md, wait.svg in {shown(RUN.out)}/")


if __name__ == "__main__":
    main()
