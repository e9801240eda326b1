"""Section 1: select() cost per call, timeout 0, K watched socketpairs, against the C floor.

Every contender is a long-lived process that measures on command ("K M" on stdin, two result
lines back); the runner asks them in turn, measurement by measurement, rotating the order, so a
slow patch on the shared machine hits all of them alike."""

import queue
import re
import subprocess
import tempfile
import threading
import time

from common import CFG, KS, SERVER_CPU, log, median, note, pin, quartiles, spawn, stop, time_left


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
