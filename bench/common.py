"""What every part of `make bench` shares: the run's configuration, logging and notes,
the processes it starts (each stopped by its pid), CPU placement, and small statistics."""

import atexit
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = time.monotonic()

# The run's kind and output place, set by run.py before anything is measured: `mode` is
# "full", "quick" (BENCH_QUICK=1) or "smoke" (run.py --smoke); `out` is <cargo's target
# directory>/bench (bench-smoke for a smoke run), `bin` the C baselines' directory in it.
RUN = types.SimpleNamespace(mode="full", out=None, bin=None)

KS = [1, 8, 64, 256, 1000]
CONFIGS = dict(
    quick=dict(
        budget_s=110,  # whole run, builds included; later phases skip past it
        micro_reps=9,
        micro_target_ns=8e6,  # C floor time per measurement
        srv_reps=5,
        srv_n={1: 1000, 16: 2000},
        warmup_n=300,
        strace_n=200,
        rss_total=20_000,
        rss_chunks=5,
    ),
    full=dict(
        budget_s=570,
        micro_reps=21,
        micro_target_ns=30e6,
        srv_reps=15,
        srv_n={1: 4000, 16: 10_000},
        warmup_n=1000,
        strace_n=200,
        rss_total=100_000,
        rss_chunks=10,
    ),
    # Every section once, with tiny counts: proves the runner works, measures nothing.
    smoke=dict(
        budget_s=300,
        micro_reps=1,
        micro_target_ns=2e5,
        srv_reps=1,
        srv_n={1: 50, 16: 100},
        warmup_n=20,
        strace_n=20,
        rss_total=200,
        rss_chunks=2,
    ),
)
CFG = {}


def configure(mode):
    """Select the run's kind: "full", "quick" or "smoke"."""
    RUN.mode = mode
    CFG.clear()
    CFG.update(CONFIGS[mode])


configure("quick" if os.environ.get("BENCH_QUICK", "") not in ("", "0") else "full")

notes = []  # findings and skips, printed with the tables


def log(msg):
    print(f"[bench {time.monotonic() - START:6.1f}s] {msg}", flush=True)


def note(msg):
    notes.append(msg)
    log("note: " + msg)


def time_left():
    return CFG["budget_s"] - (time.monotonic() - START)


def shown(path):
    """A path as the messages show it: relative to the checkout when it is inside it."""
    rel = os.path.relpath(path, ROOT)
    return str(path) if rel.startswith("..") else rel


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
# Small statistics helpers


def median(xs):
    return statistics.median(xs) if xs else None


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]
