"""The outputs: results.json, results.csv, results.md (tables, targets met or missed, notes)
and the SVG chart."""

import csv
import datetime
import json
import os
import platform

from build import run_build
from common import CFG, KS, RUN, notes
from micro import LABEL, MICRO
from svg import write_svg


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


def machine_info():
    info = dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        kernel=platform.release(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        quick=RUN.mode != "full",
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
    (RUN.out / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")

    with open(RUN.out / "results.csv", "w", newline="") as f:
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

    md = [f"# pyselect benchmarks ({RUN.mode} run)", ""]
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
    (RUN.out / "results.md").write_text("\n".join(md))
    write_svg(micro, RUN.out / "select_cost.svg")
    return "\n".join(md)
