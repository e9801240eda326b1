#!/usr/bin/env python3
"""`make bench`: pyselect against C and CPython, in one interleaved run.

Builds everything it needs (cc for the C baselines in bench/, cargo for the
select_cost bench and the two binaries), then measures:

1. select() cost per call, timeout 0, K watched socketpairs, nothing ready and
   one ready: the C floor (bench/select_floor.c), CPython's select.select with
   ints and with socket objects (bench/select_cpython.py), nix's FdSet select,
   and pyselect::select with Vec<RawFd> and with &UnixStream
   (benches/select_cost.rs).  Every contender is a long-lived process that
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

Results: target/bench/results.json, results.csv, results.md and
select_cost.svg; the markdown table is printed at the end.

Environment: BENCH_QUICK=1 for the short variant; BENCH_DRIVER=client|c to
pick the load generator (default: pyselect-client when it builds, else
bench/c_loadgen.c); CC for the C compiler.
Only loopback traffic; every spawned process is stopped by its pid; every
loop is bounded in count and time.
"""

import atexit
import csv
import datetime
import html
import json
import os
import platform
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
BIN = OUT / "bin"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
START = time.monotonic()

KS = [1, 8, 64, 256, 1000]
if QUICK:
    CFG = dict(
        budget_s=110,  # whole run, builds included; later phases skip past it
        micro_reps=9,
        micro_target_ns=8e6,  # C floor time per measurement
        srv_reps=5,
        srv_n={1: 1000, 16: 2000},
        warmup_n=300,
        strace_n=200,
        rss_total=20_000,
        rss_chunks=5,
    )
else:
    CFG = dict(
        budget_s=570,
        micro_reps=21,
        micro_target_ns=30e6,
        srv_reps=15,
        srv_n={1: 4000, 16: 10_000},
        warmup_n=1000,
        strace_n=200,
        rss_total=100_000,
        rss_chunks=10,
    )

DRIVER_NOTE = (
    "Load generator: {driver} (pyselect-client's load mode by default; bench/c_loadgen.c is the same "
    "CLI and summary line in C, used when the client is not built or with BENCH_DRIVER=c). Server "
    "and generator are pinned to the same CPU and the runner to the other, so CPU per transaction "
    "is the work itself, and tx/s at c=16 is what the pair does on one core."
)

notes = []  # findings and skips, printed with the tables


def log(msg):
    print(f"[bench {time.monotonic() - START:6.1f}s] {msg}", flush=True)


def note(msg):
    notes.append(msg)
    log("note: " + msg)


def time_left():
    return CFG["budget_s"] - (time.monotonic() - START)


# --------------------------------------------------------------------------
# Process bookkeeping: everything we start is stopped by its pid.

_procs = []


def spawn(cmd, **kw):
    p = subprocess.Popen([str(c) for c in cmd], **kw)
    _procs.append(p)
    return p


def stop(p, grace=3.0):
    """SIGTERM, then SIGKILL after `grace` seconds; reap.  Idempotent."""
    if p.returncode is not None:
        return
    if p.poll() is not None:
        return
    try:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
    except ProcessLookupError:
        pass


def stop_all():
    for p in _procs:
        try:
            stop(p)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(stop_all)


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def wait_bounded(p, timeout):
    """Wait for p and reap it with os.wait4 (for its rusage); SIGKILL it past timeout.

    Returns (exit status, or None if it had to be killed; CPU seconds of the child).
    The child is waited for with WNOWAIT first, so the timer can only ever signal our own
    unreaped child, never a recycled pid.
    """
    lock = threading.Lock()
    state = dict(exited=False, killed=False)

    def on_timeout():
        with lock:
            if not state["exited"]:
                state["killed"] = True
                os.kill(p.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, on_timeout)
    timer.daemon = True
    timer.start()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    with lock:
        state["exited"] = True
    timer.cancel()
    _pid, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return (None if state["killed"] else p.returncode), ru.ru_utime + ru.ru_stime


# Placement: the server (or select contender) and the load generator share the last CPU, and
# this runner keeps to the first. Measured here (2 vCPUs in a VM): with server and driver on
# different CPUs, every transaction at concurrency 1 pays a cross-CPU wake-up from idle, and
# server CPU per transaction rises from ~25 to ~43 µs with a spread of +-30%; left to the
# scheduler it swings between the two. On one CPU it is the work itself, within a few percent.
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = {CPUS[-1]}
DRIVER_CPU = {CPUS[-1]}
RUNNER_CPU = {CPUS[0]}


def pin(pid, cpus):
    if len(CPUS) > 1:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Building


def run_build(cmd, timeout):
    try:
        r = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"{cmd[0]} timed out after {timeout}s"
    except FileNotFoundError:
        return None, f"{cmd[0]} not found"
    return r, None


def build_c():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("bench: no C compiler (cc); the C baselines need one")
    BIN.mkdir(parents=True, exist_ok=True)
    built = {}
    for name in ("select_floor", "c_serial_server", "c_multiplex_server", "c_loadgen"):
        src = ROOT / "bench" / f"{name}.c"
        r, err = run_build([cc, "-O2", "-Wall", "-Wextra", "-o", BIN / name, src], 120)
        if err or r.returncode != 0:
            note(f"cc failed for bench/{name}.c: {err or r.stderr.strip()[-800:]}")
            continue
        if r.stderr.strip():
            note(f"cc warned on bench/{name}.c: {r.stderr.strip()[:400]}")
        built[name] = BIN / name
    return built


def cargo_build(args, timeout):
    """cargo build --release ARGS; returns ({target name: executable}, error text)."""
    r, err = run_build(
        ["cargo", "build", "--release", "--message-format=json-render-diagnostics", *args],
        timeout,
    )
    if err:
        return {}, err
    exes = {}
    for line in r.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = Path(msg["executable"])
    if r.returncode != 0:
        return exes, "\n".join(r.stderr.strip().splitlines()[-12:])
    return exes, None


# --------------------------------------------------------------------------
# Small statistics helpers


def median(xs):
    return statistics.median(xs) if xs else None


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


# --------------------------------------------------------------------------
# 1. select() micro-benchmark

MICRO = [
    # (name, label for tables, how to start it: filled in main())
    ("c-floor", "C floor"),
    ("pyselect-int", "pyselect Vec<RawFd>"),
    ("pyselect-stream", "pyselect &UnixStream"),
    ("nix", "nix FdSet"),
    ("cpython-int", "CPython ints"),
    ("cpython-obj", "CPython sockets"),
]
LABEL = dict(MICRO)
RESULT_RE = re.compile(
    r"^result contender=(\S+) k=(\d+) ready=(\d) iters=(\d+) ns_per_call=([\d.]+) cpu_ns_per_call=([\d.]+) found=(\d+)"
)


class Contender:
    """A measuring process that answers "K M" with two result lines."""

    def __init__(self, name, cmd):
        self.name = name
        self.err = tempfile.TemporaryFile()
        self.p = spawn(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1
        )
        pin(self.p.pid, SERVER_CPU)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def measure(self, k, m, timeout):
        self.p.stdin.write(f"{k} {m}\n")
        self.p.stdin.flush()
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < 2:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{self.name}: no answer within {timeout:.0f}s") from None
            if line is None:
                self.err.seek(0)
                raise RuntimeError(f"{self.name} exited: {self.err.read().decode(errors='replace')[-500:]}")
            mt = RESULT_RE.match(line)
            if mt:
                out.append(
                    dict(
                        ready=int(mt[3]),
                        iters=int(mt[4]),
                        wall=float(mt[5]),
                        ns=float(mt[6]),
                        found=int(mt[7]),
                    )
                )
        return out

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            pass
        stop(self.p)


def run_micro(cmds):
    klist = ",".join(map(str, KS))
    procs = []
    for name, _label in MICRO:
        if name in cmds:
            prog, mode = cmds[name]
            procs.append(Contender(name, [*prog, klist, "stdin", *([mode] if mode else [])]))
    if not any(c.name == "c-floor" for c in procs):
        note("no C floor: select micro-benchmark skipped")
        return None

    floor = next(c for c in procs if c.name == "c-floor")
    # Calibrate: M calls per K so that the C floor spends micro_target_ns.
    iters = {}
    for k in KS:
        m0 = max(20, int(3_000_000 / (k * 55 + 450)))  # about 3 ms
        # The fastest of three tries: a neighbour's burst must not shrink M for good.
        est = min(min(r["ns"] for r in floor.measure(k, m0, 60)) for _ in range(3))
        iters[k] = int(min(2_000_000, max(50, CFG["micro_target_ns"] / est)))
    log("select micro-benchmark: calls per measurement " + ", ".join(f"K={k}: {m}" for k, m in iters.items()))

    samples = {}  # (name, k, ready) -> [CPU ns per call, one per rep]
    wall = {}  # the same in wall-clock time, for the record
    anomalies = []
    reps_done = 0
    for rep in range(CFG["micro_reps"]):
        if rep >= 3 and time_left() < 0.55 * CFG["budget_s"]:
            note(f"select micro-benchmark stopped after {rep} repetitions to stay in the time budget")
            break
        for ki, k in enumerate(KS):
            shift = (rep + ki) % len(procs)
            for c in procs[shift:] + procs[:shift]:
                try:
                    res = c.measure(k, iters[k], 120)
                except RuntimeError as e:
                    note(str(e))
                    procs.remove(c)
                    continue
                for r in res:
                    samples.setdefault((c.name, k, r["ready"]), []).append(r["ns"])
                    wall.setdefault((c.name, k, r["ready"]), []).append(r["wall"])
                    if r["found"] != r["ready"]:
                        anomalies.append(f"{c.name} K={k} ready={r['ready']} returned {r['found']} ready fds")
        reps_done = rep + 1
        log(f"select micro-benchmark: repetition {reps_done}/{CFG['micro_reps']} done")
    for c in procs:
        c.close()
    for a in sorted(set(anomalies)):
        note("wrong result: " + a)

    rows = []
    for name, _label in MICRO:
        for k in KS:
            for ready in (0, 1):
                xs = samples.get((name, k, ready))
                base = samples.get(("c-floor", k, ready))
                if not xs:
                    continue
                ratios = [a / b for a, b in zip(xs, base)] if base and len(base) == len(xs) else []
                q1, q3 = quartiles(ratios)
                rows.append(
                    dict(
                        contender=name,
                        k=k,
                        ready=ready,
                        iters=iters[k],
                        ns_median=median(xs),
                        ns_samples=xs,
                        wall_ns_median=median(wall[(name, k, ready)]),
                        wall_ns_samples=wall[(name, k, ready)],
                        ratio_median=median(ratios),
                        ratio_q1=q1,
                        ratio_q3=q3,
                        ratio_samples=ratios,
                    )
                )
    return dict(reps=reps_done, iters=iters, rows=rows)


# --------------------------------------------------------------------------
# 2. Servers


def free_ports(n=2):
    """Ports the kernel hands out for port 0 on 127.0.0.1, closed again."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def listening(port):
    """True when some socket LISTENs on port (from /proc/net/tcp, no traffic)."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def cpu_ns(pid):
    """CPU time of all threads of pid, ns, from schedstat (or stat as fallback)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK")  # utime + stime


def user_sys_s(pid):
    """(user, system) CPU seconds of pid from /proc/PID/stat (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def vm_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0]] = int(line.split()[1])  # KiB
    return out


SUMMARY_PATTERNS = {
    "transactions": [r"\btransactions\s*[=:]\s*(\d+)", r"(\d+)\s+transactions", r"\btx\s*[=:]\s*(\d+)"],
    "errors": [r"\berrors\s*[=:]\s*(\d+)", r"(\d+)\s+errors?"],
    "seconds": [
        r"\bseconds\s*[=:]\s*([\d.]+)",
        r"([\d.]+)\s*s(?:ec(?:onds)?)?\b(?!/)",
        r"\belapsed\s*[=:]\s*([\d.]+)",
    ],
    "tx_per_s": [
        r"\btx_per_s\s*[=:]\s*([\d.]+)",
        r"\btx/s\s*[=:]\s*([\d.]+)",
        r"([\d.]+)\s*tx/s",
        r"\btps\s*[=:]\s*([\d.]+)",
    ],
    "p50_us": [r"\bp50(?:_us)?\s*[=:]?\s*([\d.]+)"],
    "p99_us": [r"\bp99(?:_us)?\s*[=:]?\s*([\d.]+)"],
    "max_us": [r"\bmax(?:_us)?\s*[=:]?\s*([\d.]+)"],
}


def parse_summary(text):
    """The load generator's last non-empty stdout line, as numbers."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    line = lines[-1].replace("µs", "us")
    out = {}
    for key, pats in SUMMARY_PATTERNS.items():
        for pat in pats:
            m = re.search(pat, line)
            if m:
                out[key] = float(m.group(1))
                break
    if "transactions" not in out or "p50_us" not in out:
        return None
    out["line"] = lines[-1]
    return out


class Driver:
    def __init__(self, name, cmd):
        self.name, self.cmd = name, cmd

    def run(self, port, n, conc, timeout=120):
        cmd = [*self.cmd, "--port", port, "--connections", n, "--concurrency", conc]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            pin(p.pid, DRIVER_CPU)
            status, cpu = wait_bounded(p, timeout)
            wall = time.monotonic() - t0
            out.seek(0)
            err.seek(0)
            text, etext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        s = parse_summary(text)
        if status is None:
            raise RuntimeError(f"{self.name} timed out after {timeout}s against port {port}")
        if s is None:
            raise RuntimeError(f"{self.name} exit {status}, no summary line: {(text + etext).strip()[-400:]}")
        s.update(status=status, driver_cpu_s=cpu, wall_s=wall)
        return s


class Server:
    def __init__(self, name, label, make_cmd, baseline=None, env=None, alt_baseline=None):
        self.name, self.label, self.make_cmd, self.baseline = name, label, make_cmd, baseline
        self.alt_baseline = alt_baseline  # a second comparison, reported beside the first
        self.env = env
        self.p = None
        self.port = None
        self.failed = None

    def start(self):
        for _attempt in range(3):  # a port taken between free_ports() and bind: retry
            ports = free_ports()
            self.err = tempfile.TemporaryFile()
            self.p = spawn(
                self.make_cmd(ports),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.err,
                env=self.env,
            )
            pin(self.p.pid, SERVER_CPU)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.p.poll() is None and not listening(ports[0]):
                time.sleep(0.01)
            if self.p.poll() is None and listening(ports[0]):
                self.port = ports[0]
                return True
            stop(self.p)
        self.failed = "did not start: " + self.stderr()[-300:]
        return False

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace").strip()

    def alive(self):
        return self.p is not None and self.p.poll() is None


def strace_count(server, driver, n):
    """Syscalls the server makes per connection, from strace -c -f -p."""
    out = OUT / f"strace-{server.name}.txt"
    with tempfile.TemporaryFile() as err:
        sp = spawn(
            ["strace", "-f", "-c", "-o", out, "-p", server.p.pid],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        deadline = time.monotonic() + 10
        attached = False
        while time.monotonic() < deadline and sp.poll() is None:
            err.seek(0)
            if b"attached" in err.read():
                attached = True
                break
            time.sleep(0.02)
        if not attached:
            stop(sp)
            err.seek(0)
            raise RuntimeError(
                "strace could not attach: " + err.read().decode(errors="replace").strip()[-300:]
            )
        time.sleep(0.1)
        try:
            s = driver.run(server.port, n, 1, timeout=120)
        finally:
            os.kill(sp.pid, signal.SIGINT)  # detach: strace writes its summary
            try:
                sp.wait(timeout=15)
            except subprocess.TimeoutExpired:
                stop(sp)
    per_call = {}
    total = None
    for line in out.read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[3].isdigit():
            if f[-1] == "total":
                total = int(f[3])
            else:
                per_call[f[-1]] = int(f[3])
    if total is None:
        total = sum(per_call.values())
    tx = s["transactions"]
    return dict(
        connections=tx,
        errors=s.get("errors", 0),
        total_calls=total,
        per_conn=total / tx,
        by_syscall={k: round(v / tx, 2) for k, v in sorted(per_call.items(), key=lambda kv: -kv[1])},
        trace_file=str(out.relative_to(ROOT)),
    )


def run_servers(built, exes):
    sect = dict(skipped=None, servers={}, driver=None)
    srv_exe = exes.get("pyselect-server")
    cli_exe = exes.get("pyselect-client")
    drivers = {}
    if cli_exe:
        drivers["pyselect-client"] = Driver("pyselect-client", [cli_exe])
    if "c_loadgen" in built:
        drivers["c_loadgen"] = Driver("c_loadgen", [built["c_loadgen"]])
    want = os.environ.get("BENCH_DRIVER", "auto")
    if want == "c" and "c_loadgen" in drivers:
        driver = drivers["c_loadgen"]
    elif want == "client" and cli_exe:
        driver = drivers["pyselect-client"]
    elif drivers:
        driver = next(iter(drivers.values()))  # the client first, as the issue asks
        if not cli_exe:
            note("pyselect-client is not built: the servers are driven by bench/c_loadgen.c instead")
    else:
        sect["skipped"] = "no load generator built"
        note("server benchmark skipped: neither pyselect-client nor bench/c_loadgen.c built")
        return sect
    note(DRIVER_NOTE.format(driver=driver.name))
    sect["driver"] = driver.name

    servers = []
    if "c_serial_server" in built:
        servers.append(
            Server("c-serial", "C serial select", lambda p: [built["c_serial_server"], p[0], p[1], "-q"])
        )
    if "c_multiplex_server" in built:
        servers.append(
            Server(
                "c-stevens",
                "C Stevens multiplexed",
                lambda p: [built["c_multiplex_server"], p[0], p[1], "-q"],
            )
        )
        # The same with what pyselect's multiplex mode adds: a select() timeout for a 10 s idle
        # deadline and the clients in the exception set; it shows what those cost by themselves.
        servers.append(
            Server(
                "c-stevens-idle",
                "C Stevens + idle timeout, xset",
                lambda p: [built["c_multiplex_server"], p[0], p[1], "-q", "-t", "10"],
                baseline="c-stevens",
            )
        )
    # The seed prints to /dev/null with CPython's default buffering (block-buffered when not a
    # terminal): PYTHONUNBUFFERED, if the caller's environment has it, would add 4 writes per
    # connection that the seed, run as written, does not make.
    seed_env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    servers.append(
        Server(
            "cpython-seed",
            "CPython seed (stage 3)",
            lambda p: [
                sys.executable,
                ROOT / "tests" / "fixtures" / "seed_select_server.py",
                p[0],
                p[1],
                "127.0.0.1",
            ],
            baseline="c-serial",
            env=seed_env,
        )
    )
    if srv_exe:
        for mode, base in (("select", "c-serial"), ("multiplex", "c-stevens")):
            servers.append(
                Server(
                    f"pyselect-{mode}",
                    f"pyselect-server --mode {mode}",
                    lambda p, mode=mode: [
                        srv_exe,
                        "--host",
                        "127.0.0.1",
                        "--ports",
                        f"{p[0]},{p[1]}",
                        "--mode",
                        mode,
                        "--quiet",
                    ],
                    baseline=base,
                    alt_baseline="c-stevens-idle" if mode == "multiplex" else None,
                )
            )
    else:
        note(
            "pyselect-server is not built yet (cargo build --release --bin pyselect-server failed): its rows are missing; the baselines still run"
        )

    for s in servers:
        if not s.start():
            note(f"{s.name} {s.failed}")
    live = [s for s in servers if s.alive()]

    # Warm-up, which also checks that every server answers correctly.
    for s in list(live):
        try:
            r = driver.run(s.port, CFG["warmup_n"], 1, timeout=60)
            if r.get("errors"):
                raise RuntimeError(f"{int(r['errors'])} errors in warm-up: {r['line']}")
        except RuntimeError as e:
            s.failed = str(e)
            note(f"{s.name} dropped: {e}; server stderr: {s.stderr()[-300:]}")
            stop(s.p)
            live.remove(s)
    log("servers up and warm: " + ", ".join(s.name for s in live))

    # Is the client the bottleneck? Its CPU per transaction beside the C generator's, at c=16
    # against the C serial server, interleaved.
    ref = next((s for s in live if s.name == "c-serial"), None)
    if ref and len(drivers) == 2:
        check = {name: [] for name in drivers}
        for _ in range(3):
            for name, d in drivers.items():
                try:
                    r = d.run(ref.port, CFG["srv_n"][16], 16)
                    check[name].append(
                        dict(
                            cpu_us_per_tx=r["driver_cpu_s"] * 1e6 / max(1, r["transactions"]),
                            tx_per_s=r["transactions"] / r["wall_s"],
                        )
                    )
                except RuntimeError as e:
                    note(f"driver check, {name}: {e}")
        sect["driver_check"] = {
            name: dict(
                cpu_us_per_tx=median([x["cpu_us_per_tx"] for x in xs]),
                tx_per_s=median([x["tx_per_s"] for x in xs]),
            )
            for name, xs in check.items()
            if xs
        }

    data = {
        s.name: dict(label=s.label, baseline=s.baseline, alt_baseline=s.alt_baseline, runs={1: [], 16: []})
        for s in servers
    }
    for s in servers:
        if s.failed:
            data[s.name]["failed"] = s.failed

    # Interleaved repetitions: every server at concurrency 1 and 16, per round.
    for rep in range(CFG["srv_reps"]):
        if rep >= 2 and time_left() < 0.35 * CFG["budget_s"]:
            note(f"server rounds stopped after {rep} to stay in the time budget")
            break
        shift = rep % max(1, len(live))
        for s in live[shift:] + live[:shift]:
            if not s.alive():
                continue
            for conc in (1, 16):
                n = CFG["srv_n"][conc]
                try:
                    c0 = cpu_ns(s.p.pid)
                    r = driver.run(s.port, n, conc)
                    c1 = cpu_ns(s.p.pid)
                except (RuntimeError, OSError) as e:
                    note(f"{s.name} c={conc}: {e}")
                    continue
                tx = max(1, r["transactions"])
                r["server_cpu_us_per_tx"] = (c1 - c0) / 1e3 / tx
                r["driver_cpu_us_per_tx"] = r["driver_cpu_s"] * 1e6 / tx
                data[s.name]["runs"][conc].append(r)
        log(f"server round {rep + 1}/{CFG['srv_reps']} done")

    # Syscalls per connection.
    strace = shutil.which("strace")
    if not strace:
        note(
            "strace is not installed: the syscalls-per-connection column is empty (apt-get install strace to fill it)"
        )
    for s in live:
        if not strace or not s.alive():
            break
        if time_left() < 0.2 * CFG["budget_s"]:
            note("strace phase cut short to stay in the time budget")
            break
        try:
            data[s.name]["strace"] = strace_count(s, driver, CFG["strace_n"])
        except (RuntimeError, OSError) as e:
            note(f"strace on {s.name}: {e}")
    # The same for pyselect-server printing its lines (to /dev/null): one write(2) per line.
    printing = {}
    for mode in ("select", "multiplex") if srv_exe and strace else ():
        if time_left() < 0.2 * CFG["budget_s"]:
            break
        s = Server(
            f"pyselect-{mode}-printing",
            f"pyselect-server --mode {mode} (printing)",
            lambda p, mode=mode: [
                srv_exe,
                "--host",
                "127.0.0.1",
                "--ports",
                f"{p[0]},{p[1]}",
                "--mode",
                mode,
            ],
        )
        try:
            if not s.start():
                raise RuntimeError(s.failed)
            driver.run(s.port, 50, 1, timeout=60)
            printing[mode] = strace_count(s, driver, CFG["strace_n"])
        except (RuntimeError, OSError) as e:
            note(f"strace on printing {mode} server: {e}")
        finally:
            if s.p is not None:
                stop(s.p)
    sect["printing_strace"] = printing

    # Peak RSS over a long run (concurrency 16, in chunks).
    for s in live:
        if not s.alive():
            continue
        if time_left() < 0.08 * CFG["budget_s"]:
            note(f"RSS run skipped for {s.name} to stay in the time budget")
            continue
        chunk = CFG["rss_total"] // CFG["rss_chunks"]
        samples = [dict(tx=0, **vm_status(s.p.pid))]
        done = 0
        c0, (u0, k0) = cpu_ns(s.p.pid), user_sys_s(s.p.pid)
        try:
            for _ in range(CFG["rss_chunks"]):
                r = driver.run(s.port, chunk, 16, timeout=180)
                done += int(r["transactions"])
                samples.append(dict(tx=done, **vm_status(s.p.pid)))
        except (RuntimeError, OSError) as e:
            note(f"RSS run on {s.name}: {e}")
        c1, (u1, k1) = cpu_ns(s.p.pid), user_sys_s(s.p.pid)
        per = 1e6 / max(1, done)
        data[s.name]["rss"] = dict(
            samples=samples,
            cpu_us_per_tx=(c1 - c0) / 1e3 / max(1, done),
            user_us_per_tx=(u1 - u0) * per,
            sys_us_per_tx=(k1 - k0) * per,
        )
        log(f"RSS run {s.name}: {done} transactions, VmHWM {samples[-1].get('VmHWM')} KiB")

    for s in servers:
        if s.p is not None:
            stop(s.p)
            tail = s.stderr()
            if tail:
                data[s.name]["stderr_tail"] = tail[-300:]

    # Summaries: medians, and per-round ratios against each baseline.
    for name, d in data.items():
        summ = {}
        for conc in (1, 16):
            runs = d["runs"][conc]
            if not runs:
                continue
            cpu = [r["server_cpu_us_per_tx"] for r in runs]
            summ[conc] = dict(
                cpu_us_per_tx=median(cpu),
                p50_us=median([r["p50_us"] for r in runs]),
                p99_us=median([r["p99_us"] for r in runs]),
                tx_per_s=median([r.get("tx_per_s") or r["transactions"] / r["wall_s"] for r in runs]),
                driver_cpu_us_per_tx=median([r["driver_cpu_us_per_tx"] for r in runs]),
                errors=sum(r.get("errors", 0) for r in runs),
                rounds=len(runs),
            )
            for key, bname in (("ratio", d["baseline"]), ("alt_ratio", d["alt_baseline"])):
                base = data.get(bname) if bname else None
                if base and base["runs"][conc]:
                    bruns = base["runs"][conc]
                    ratios = [
                        a["server_cpu_us_per_tx"] / b["server_cpu_us_per_tx"] for a, b in zip(runs, bruns)
                    ]
                    q1, q3 = quartiles(ratios)
                    summ[conc].update({key: median(ratios), key + "_q1": q1, key + "_q3": q3})
        d["summary"] = summ
        rss = d.get("rss")
        if rss and len(rss["samples"]) >= 3:
            first, last = rss["samples"][1], rss["samples"][-1]
            rss["hwm_growth_kib"] = last["VmHWM"] - first["VmHWM"]
            rss["flat"] = rss["hwm_growth_kib"] <= 64
    sect["servers"] = data
    return sect


# --------------------------------------------------------------------------
# Output: JSON, CSV, markdown, SVG


def fmt_ns(ns):
    if ns is None:
        return "-"
    return f"{ns / 1000:.1f} µs" if ns >= 10_000 else f"{ns:.0f} ns"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def micro_table(micro):
    if not micro:
        return ["(select micro-benchmark not run)"]
    present = [n for n, _ in MICRO if any(r["contender"] == n for r in micro["rows"])]
    idx = {(r["contender"], r["k"], r["ready"]): r for r in micro["rows"]}
    head = ["K", "ready"] + [LABEL[n] for n in present]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in KS:
        for ready in (0, 1):
            cells = [str(k), "one" if ready else "none"]
            for n in present:
                r = idx.get((n, k, ready))
                if not r:
                    cells.append("-")
                elif n == "c-floor":
                    cells.append(fmt_ns(r["ns_median"]))
                else:
                    cells.append(f"{fmt_ratio(r['ratio_median'])} ({fmt_ns(r['ns_median'])})")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def server_table(srv):
    if not srv or not srv.get("servers"):
        return [
            "(server benchmark not run" + (f": {srv['skipped']}" if srv and srv.get("skipped") else "") + ")"
        ]
    head = [
        "server",
        "CPU/tx c=1",
        "vs base",
        "CPU/tx c=16",
        "vs base",
        "p50 c=1",
        "p99 c=1",
        "tx/s c=16",
        "syscalls/conn",
        "VmHWM",
        "RSS growth",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, d in srv["servers"].items():
        s1, s16 = d["summary"].get(1, {}), d["summary"].get(16, {})
        st = d.get("strace")
        rss = d.get("rss")

        def cpu(s):
            return f"{s['cpu_us_per_tx']:.1f} µs" if s else "-"

        def ratio(s):
            if not s or "ratio" not in s:
                return "base" if not d["baseline"] else "-"
            return f"{s['ratio']:.2f}x vs {d['baseline']}"

        hwm = rss["samples"][-1].get("VmHWM") if rss else None
        growth = "-"
        if rss and "hwm_growth_kib" in rss:
            growth = f"{rss['hwm_growth_kib']:+d} KiB over {rss['samples'][-1]['tx'] - rss['samples'][1]['tx']:,} tx"
        lines.append(
            "| "
            + " | ".join(
                [
                    d["label"] + (" (FAILED)" if d.get("failed") else ""),
                    cpu(s1),
                    ratio(s1),
                    cpu(s16),
                    ratio(s16),
                    f"{s1['p50_us']:.0f} µs" if s1 else "-",
                    f"{s1['p99_us']:.0f} µs" if s1 else "-",
                    f"{s16['tx_per_s']:,.0f}" if s16 else "-",
                    f"{st['per_conn']:.2f}" if st else "-",
                    f"{hwm:,} KiB" if hwm else "-",
                    growth,
                ]
            )
            + " |"
        )
    return lines


def targets(micro, srv):
    """Each target: (text, met: True/False/None, detail)."""
    out = []
    if micro:
        idx = {(r["contender"], r["k"], r["ready"]): r for r in micro["rows"]}
        for n, what in (("pyselect-int", "ints"), ("pyselect-stream", "objects")):
            rs = [idx[(n, k, rd)] for k in KS for rd in (0, 1) if (n, k, rd) in idx]
            if not rs:
                out.append((f"pyselect::select ≤ 1.03x the C floor at every K, {what}", None, "not measured"))
                continue
            worst = max(rs, key=lambda r: r["ratio_median"])
            misses = [
                f"K={r['k']}{'/ready' if r['ready'] else ''}: {r['ratio_median']:.2f}x"
                for r in rs
                if r["ratio_median"] > 1.03
            ]
            out.append(
                (
                    f"pyselect::select ≤ 1.03x the C floor at every K, {what}",
                    not misses,
                    f"worst {worst['ratio_median']:.2f}x at K={worst['k']} ({'one' if worst['ready'] else 'none'} ready)"
                    + (f"; over: {', '.join(misses)}" if misses else ""),
                )
            )
    servers = (srv or {}).get("servers", {})
    for name, base in (("pyselect-select", "c-serial"), ("pyselect-multiplex", "c-stevens")):
        d = servers.get(name)
        for conc in (1, 16):
            s = d["summary"].get(conc) if d else None
            text = f"{name} CPU per transaction ≤ 1.0x {base}, concurrency {conc}"
            if not s or "ratio" not in s:
                out.append((text, None, "not measured"))
            else:
                detail = f"{s['ratio']:.2f}x (quartiles {s['ratio_q1']:.2f}–{s['ratio_q3']:.2f})"
                if "alt_ratio" in s:
                    detail += (
                        f"; against {d['alt_baseline']}, the C server with the same idle timeout and "
                        f"exception set: {s['alt_ratio']:.2f}x ({s['alt_ratio_q1']:.2f}–{s['alt_ratio_q3']:.2f})"
                    )
                out.append((text, s["ratio"] <= 1.0, detail))
    for name, limit, text in (
        ("pyselect-select", 5, "select mode: 5 syscalls per connection (quiet: no printed lines)"),
        ("pyselect-multiplex", 7, "multiplex mode: at most 7 syscalls per connection"),
    ):
        st = (servers.get(name) or {}).get("strace")
        if not st:
            out.append((text, None, "not measured"))
        else:
            calls = ", ".join(f"{k} {v:g}" for k, v in st["by_syscall"].items())
            out.append((text, st["per_conn"] <= limit + 0.05, f"{st['per_conn']:.2f} ({calls})"))
    for mode, limit in (("select", 5), ("multiplex", 7)):
        st = (srv or {}).get("printing_strace", {}).get(mode)
        text = f"{mode} mode printing its lines: {'' if mode == 'select' else 'at most '}{limit} syscalls plus one write per line"
        if not st:
            out.append((text, None, "not measured"))
            continue
        writes = st["by_syscall"].get("write", 0)
        other = st["per_conn"] - writes
        ok = other <= limit + 0.05 if mode == "multiplex" else abs(other - limit) <= 0.05
        out.append((text, ok, f"{st['per_conn']:.2f} per connection, of which {writes:g} writes"))
    for name in ("pyselect-select", "pyselect-multiplex"):
        rss = (servers.get(name) or {}).get("rss")
        text = f"{name}: RSS flat over {CFG['rss_total']:,} transactions"
        if not rss or "flat" not in rss:
            out.append((text, None, "not measured"))
        else:
            s = rss["samples"]
            out.append(
                (
                    text,
                    rss["flat"],
                    f"VmHWM {s[1]['VmHWM']} KiB after {s[1]['tx']:,} tx, {s[-1]['VmHWM']} KiB after {s[-1]['tx']:,} tx",
                )
            )
    return out


def write_svg(micro, path):
    """Two panels: ns per call against K (log-log), and ratio to the C floor."""
    colors = {
        "c-floor": "#222222",
        "pyselect-int": "#d62728",
        "pyselect-stream": "#ff7f0e",
        "nix": "#2ca02c",
        "cpython-int": "#1f77b4",
        "cpython-obj": "#9467bd",
    }
    import math

    rows = micro["rows"] if micro else []
    W, H = 1100, 540
    pw, ph = 430, 340  # plot area per panel
    panels = [(80, 70), (620, 70)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="28" text-anchor="middle" font-size="17">select() CPU cost per call against K watched fds (timeout 0; median of {micro["reps"] if micro else 0} rounds)</text>',
    ]
    if not rows:
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data</text></svg>')
        path.write_text("\n".join(parts))
        return
    lx0, lx1 = math.log10(KS[0]), math.log10(KS[-1])

    def xmap(x0, k):
        return x0 + (math.log10(k) - lx0) / (lx1 - lx0) * pw

    ns_all = [r["ns_median"] for r in rows]
    ly0, ly1 = math.floor(math.log10(min(ns_all))), math.ceil(math.log10(max(ns_all)))
    ratios = [r["ratio_median"] for r in rows if r["ratio_median"] is not None]
    r0 = min(0.9, math.floor(min(ratios) * 10) / 10)
    r1 = max(1.2, math.ceil(max(ratios) * 10) / 10)

    def y_ns(y0, ns):
        return y0 + ph - (math.log10(ns) - ly0) / (ly1 - ly0) * ph

    def y_ratio(y0, r):
        return y0 + ph - (r - r0) / (r1 - r0) * ph

    for pi, (x0, y0) in enumerate(panels):
        parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
        for k in KS:  # x grid
            x = xmap(x0, k)
            parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + ph}" stroke="#eee"/>')
            parts.append(f'<text x="{x:.1f}" y="{y0 + ph + 16}" text-anchor="middle">{k}</text>')
        parts.append(
            f'<text x="{x0 + pw / 2}" y="{y0 + ph + 36}" text-anchor="middle">K (watched fds, log scale)</text>'
        )
        if pi == 0:
            for e in range(ly0, ly1 + 1):
                y = y_ns(y0, 10**e)
                lab = {2: "100 ns", 3: "1 µs", 4: "10 µs", 5: "100 µs", 6: "1 ms"}.get(e, f"1e{e} ns")
                parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#eee"/>')
                parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{lab}</text>')
            parts.append(
                f'<text x="{x0 + pw / 2}" y="{y0 - 10}" text-anchor="middle" font-size="14">CPU time per call (log scale)</text>'
            )
        else:
            step = 0.1 * max(1, math.ceil((r1 - r0) / 0.1 / 8))
            v = math.ceil(r0 / step - 1e-9) * step
            while v <= r1 + 1e-9:
                y = y_ratio(y0, v)
                parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#eee"/>')
                parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.1f}x</text>')
                v = round(v + step, 6)
            y = y_ratio(y0, 1.0)
            parts.append(
                f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#222" stroke-width="1.5"/>'
            )
            parts.append(f'<text x="{x0 + 6}" y="{y + 14:.1f}" font-size="10">C floor = 1.0x</text>')
            y = y_ratio(y0, 1.03)
            parts.append(
                f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#d62728" stroke-dasharray="2,3"/>'
            )
            parts.append(
                f'<text x="{x0 + 6}" y="{y - 4:.1f}" fill="#d62728" font-size="10">target 1.03x</text>'
            )
            parts.append(
                f'<text x="{x0 + pw / 2}" y="{y0 - 10}" text-anchor="middle" font-size="14">ratio to the C floor (same round)</text>'
            )
        for name, _label in MICRO:
            for ready in (0, 1):
                pts = sorted((r["k"], r) for r in rows if r["contender"] == name and r["ready"] == ready)
                if pi == 1 and name == "c-floor":
                    continue
                if pi == 0:
                    xy = [(xmap(x0, k), y_ns(y0, r["ns_median"])) for k, r in pts]
                else:
                    xy = [
                        (xmap(x0, k), y_ratio(y0, r["ratio_median"]))
                        for k, r in pts
                        if r["ratio_median"] is not None
                    ]
                if not xy:
                    continue
                dash = ' stroke-dasharray="5,4"' if ready else ""
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
                parts.append(
                    f'<polyline points="{d}" fill="none" stroke="{colors[name]}" stroke-width="{1.2 if ready else 2}"{dash}/>'
                )
                for x, y in xy:
                    parts.append(
                        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2 if ready else 3}" fill="{colors[name]}"/>'
                    )
    # Legend.
    lx, ly = 80, H - 62
    present = [n for n, _ in MICRO if any(r["contender"] == n for r in rows)]
    for i, name in enumerate(present):
        x, ly = lx + (i % 3) * 260, H - 62 + (i // 3) * 20
        parts.append(
            f'<line x1="{x}" y1="{ly}" x2="{x + 24}" y2="{ly}" stroke="{colors[name]}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{x + 30}" y="{ly + 4}">{html.escape(LABEL[name])}</text>')
    parts.append(f'<text x="{lx + 800}" y="{H - 58}" fill="#555">solid: nothing ready</text>')
    parts.append(f'<text x="{lx + 800}" y="{H - 38}" fill="#555">dashed: one ready</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def machine_info():
    info = dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        kernel=platform.release(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        quick=QUICK,
    )
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    r, _ = run_build(["rustc", "--version"], 30)
    if r:
        info["rustc"] = r.stdout.strip()
    return info


def write_outputs(info, micro, srv):
    res = dict(
        machine=info, config={k: v for k, v in CFG.items()}, ks=KS, micro=micro, servers=srv, notes=notes
    )
    res["targets"] = [dict(target=t, met=m, detail=d) for t, m, d in targets(micro, srv)]
    (OUT / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")

    with open(OUT / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "section",
                "contender",
                "k",
                "ready",
                "concurrency",
                "metric",
                "median",
                "ratio_median",
                "ratio_q1",
                "ratio_q3",
                "samples",
            ]
        )
        for r in (micro or {}).get("rows", []):
            w.writerow(
                [
                    "select",
                    r["contender"],
                    r["k"],
                    r["ready"],
                    "",
                    "ns_per_call",
                    r["ns_median"],
                    r["ratio_median"],
                    r["ratio_q1"],
                    r["ratio_q3"],
                    len(r["ns_samples"]),
                ]
            )
        for name, d in (srv or {}).get("servers", {}).items():
            for conc, s in d["summary"].items():
                for metric in ("cpu_us_per_tx", "p50_us", "p99_us", "tx_per_s", "driver_cpu_us_per_tx"):
                    is_cpu = metric == "cpu_us_per_tx"
                    w.writerow(
                        [
                            "server",
                            name,
                            "",
                            "",
                            conc,
                            metric,
                            s[metric],
                            s.get("ratio") if is_cpu else "",
                            s.get("ratio_q1") if is_cpu else "",
                            s.get("ratio_q3") if is_cpu else "",
                            s["rounds"],
                        ]
                    )
            if d.get("strace"):
                w.writerow(
                    [
                        "server",
                        name,
                        "",
                        "",
                        1,
                        "syscalls_per_conn",
                        d["strace"]["per_conn"],
                        "",
                        "",
                        "",
                        d["strace"]["connections"],
                    ]
                )
            if d.get("rss"):
                w.writerow(
                    [
                        "server",
                        name,
                        "",
                        "",
                        16,
                        "vmhwm_kib",
                        d["rss"]["samples"][-1].get("VmHWM"),
                        "",
                        "",
                        "",
                        d["rss"]["samples"][-1]["tx"],
                    ]
                )

    md = [f"# pyselect benchmarks ({'quick' if QUICK else 'full'} run)", ""]
    md.append(
        f"{info.get('date')}, {info.get('cpus')} CPUs ({info.get('cpu', '?')}), Linux {info.get('kernel')}, "
        f"{info.get('rustc', 'rustc ?')}, CPython {info.get('python')}. Shared, noisy machine: read the ratios, "
        "which pair measurements taken seconds apart; absolute times drift."
    )
    md += ["", "## select() per call: ratio to the C floor (median CPU time per call)", ""]
    if micro:
        md.append(
            f"Timeout 0, K watched AF_UNIX socketpairs, nothing or one ready; CPU time per call (the thread's "
            "CLOCK_THREAD_CPUTIME_ID: preemption by other programs left out; wall-clock medians are in results.json); "
            f"medians of {micro['reps']} interleaved rounds; a ratio is the median of the per-round ratios. "
            "C floor = rebuild the fd_set, select(), scan the list (bench/select_floor.c)."
        )
        md.append("")
    md += micro_table(micro)
    md += ["", "![select cost against K](select_cost.svg)", ""]
    md += ["## Servers", ""]
    if srv and srv.get("servers"):
        rounds = max(
            (s.get("rounds", 0) for d in srv["servers"].values() for s in d["summary"].values()), default=0
        )
        md.append(
            f"Driver: {srv['driver']}. CPU/tx = server CPU time (/proc/PID/schedstat) per transaction, median of {rounds} "
            f"interleaved rounds of {CFG['srv_n'][1]:,} (c=1) and {CFG['srv_n'][16]:,} (c=16) transactions; 'vs base' is the "
            "median per-round ratio to the C server of the same design. Latency is the driver's (connect to EOF). "
            f"Syscalls/conn: strace -c -f over {CFG['strace_n']} connections at c=1. VmHWM after {CFG['rss_total']:,} "
            "more transactions at c=16; RSS growth = VmHWM change after the first chunk."
        )
        md.append("")
    md += server_table(srv)
    md += ["", "## Targets", ""]
    for t, met, detail in targets(micro, srv):
        mark = {True: "met", False: "MISSED", None: "not measured"}[met]
        md.append(f"- **{mark}**: {t}: {detail}")
    if srv and srv.get("servers"):
        if any(d.get("strace") for d in srv["servers"].values()):
            md += ["", "### Syscalls per connection, by call", ""]
        for name, d in srv["servers"].items():
            if d.get("strace"):
                calls = ", ".join(f"{k} {v:g}" for k, v in d["strace"]["by_syscall"].items())
                md.append(f"- {d['label']}: {d['strace']['per_conn']:.2f}: {calls}")
        for mode, st in srv.get("printing_strace", {}).items():
            calls = ", ".join(f"{k} {v:g}" for k, v in st["by_syscall"].items())
            md.append(
                f"- pyselect-server --mode {mode}, printing to /dev/null: {st['per_conn']:.2f}: {calls}"
            )
        dc = srv.get("driver_check") or {}
        if len(dc) == 2:
            md += [
                "",
                "Load generators side by side (c=16 against the C serial server, medians of 3): "
                + "; ".join(
                    f"{n}: {v['cpu_us_per_tx']:.1f} µs CPU per transaction, {v['tx_per_s']:,.0f} tx/s"
                    for n, v in dc.items()
                )
                + ". On the shared CPU, tx/s is about 1 / (server + generator CPU per transaction), and the "
                "generator's share (its side of the loopback connect and close) is the larger one: the client "
                "is no worse a driver than the C generator.",
            ]
        drv = [r["driver_cpu_us_per_tx"] for d in srv["servers"].values() for r in d["runs"].get(16, [])]
        if drv:
            md += [
                "",
                f"Load generator ({srv['driver']}) CPU per transaction at c=16: {min(drv):.1f}–{max(drv):.1f} µs, "
                "beside the server's figures above.",
            ]
        split = [
            (d["label"], d["rss"])
            for d in srv["servers"].values()
            if d.get("rss", {}).get("user_us_per_tx") is not None
        ]
        if split:
            md += [
                "",
                "Server CPU per transaction over the long run, user + system (from /proc/PID/stat ticks):",
                "",
            ]
            md += [
                f"- {label}: {r['user_us_per_tx']:.1f} + {r['sys_us_per_tx']:.1f} µs" for label, r in split
            ]
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    md.append("")
    (OUT / "results.md").write_text("\n".join(md))
    write_svg(micro, OUT / "select_cost.svg")
    return "\n".join(md)


# --------------------------------------------------------------------------


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    log(f"{'quick' if QUICK else 'full'} run; results under {OUT.relative_to(ROOT)}/")
    info = machine_info()

    log("building C baselines")
    built = build_c()
    log("building benches/select_cost.rs (cargo build --release --bench select_cost)")
    exes, err = cargo_build(["--bench", "select_cost"], 540)
    if err:
        note(
            "benches/select_cost.rs did not build, so the nix and pyselect select rows are missing "
            "(cargo builds the binaries with every bench, so a broken binary stops it too):\n    "
            + err.replace("\n", "\n    ")
        )
    log("building pyselect-server and pyselect-client")
    bins, err = cargo_build(["--bin", "pyselect-server", "--bin", "pyselect-client"], 540)
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
        cmds[f"cpython-{mode}"] = ([sys.executable, ROOT / "bench" / "select_cpython.py"], mode)
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
    print()
    print(text)
    log(
        f"done in {time.monotonic() - START:.0f}s; wrote results.json, results.csv, results.md, select_cost.svg in {OUT.relative_to(ROOT)}/"
    )


if __name__ == "__main__":
    main()
