"""Section 2: servers (C serial and Stevens-style, the seed under CPython, pyselect-server's
select and multiplex modes) driven by a load generator: server CPU per transaction, latency,
syscalls per connection (strace -c) and peak RSS over a long run."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from common import (
    CFG,
    DRIVER_CPU,
    ROOT,
    RUN,
    SERVER_CPU,
    log,
    median,
    note,
    pin,
    quartiles,
    shown,
    spawn,
    stop,
    time_left,
    wait_bounded,
)

DRIVER_NOTE = (
    "Load generator: {driver} (pyselect-client's load mode by default; bench/c_loadgen.c is the same "
    "CLI and summary line in C, used when the client is not built or with BENCH_DRIVER=c). Server "
    "and generator are pinned to the same CPU and the runner to the other, so CPU per transaction "
    "is the work itself, and tx/s at c=16 is what the pair does on one core."
)


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
    out = RUN.out / f"strace-{server.name}.txt"
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
        trace_file=shown(out),
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
                ROOT / "testkit" / "fixtures" / "seed_select_server.py",
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
