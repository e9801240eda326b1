"""The chart of section 1: select() CPU time per call against K, and the ratio to the C floor."""

import html
import math

from common import KS
from micro import LABEL, MICRO


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


# --------------------------------------------------------------------------
# A plain line chart, for the sections that draw one quantity against another.

PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#222222", "#17becf"]


def _ticks(lo, hi, log):
    """Tick values for an axis from lo to hi (log: powers of ten; else about six steps)."""
    if log:
        return [10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    span = hi - lo or 1.0
    step = 10 ** math.floor(math.log10(span / 5))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    v = math.floor(lo / step) * step
    out = []
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def line_chart(path, title, series, xlabel, ylabel, xlog=False, ylog=False, fmt_y=str, fmt_x=str, note=""):
    """One panel: each series is dict(label, points=[(x, y), ...], dash=bool, color=optional).

    Points with y None or (on a log axis) not above 0 are left out. Writes an SVG to path."""
    W, H = 900, 560
    x0, y0, pw, ph = 90, 60, 560, 400
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="28" text-anchor="middle" font-size="16">{html.escape(title)}</text>',
    ]
    pts = [
        (x, y)
        for s in series
        for x, y in s["points"]
        if y is not None and (y > 0 or not ylog) and (x > 0 or not xlog)
    ]
    if not pts:
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data</text></svg>')
        path.write_text("\n".join(parts) + "\n")
        return
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    xt = _ticks(min(xs), max(xs), xlog)
    yt = _ticks(min(ys), max(ys), ylog) if ylog else _ticks(min(0.0, min(ys)), max(ys), False)
    xlo, xhi = (xt[0], xt[-1]) if xlog else (min(xs), max(xs))
    ylo, yhi = yt[0], yt[-1]

    def tx(v):
        a, b, c = (math.log10(v), math.log10(xlo), math.log10(xhi)) if xlog else (v, xlo, xhi)
        return x0 + (a - b) / ((c - b) or 1) * pw

    def ty(v):
        a, b, c = (math.log10(v), math.log10(ylo), math.log10(yhi)) if ylog else (v, ylo, yhi)
        return y0 + ph - (a - b) / ((c - b) or 1) * ph

    parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    xticks = sorted(set(xs)) if not xlog else xt
    for v in xticks:
        x = tx(v)
        parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + ph}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{y0 + ph + 16}" text-anchor="middle">{html.escape(fmt_x(v))}</text>')
    for v in yt:
        y = ty(v)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{html.escape(fmt_y(v))}</text>')
    parts.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 38}" text-anchor="middle">{html.escape(xlabel)}</text>')
    parts.append(
        f'<text x="{x0 - 70}" y="{y0 + ph / 2}" text-anchor="middle" transform="rotate(-90 {x0 - 70} {y0 + ph / 2})">{html.escape(ylabel)}</text>'
    )
    for i, s in enumerate(series):
        color = s.get("color") or PALETTE[i % len(PALETTE)]
        xy = [
            (tx(x), ty(y))
            for x, y in s["points"]
            if y is not None and (y > 0 or not ylog) and (x > 0 or not xlog)
        ]
        if xy:
            dash = ' stroke-dasharray="5,4"' if s.get("dash") else ""
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for x, y in xy:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        ly = y0 + 10 + i * 20
        dash = ' stroke-dasharray="5,4"' if s.get("dash") else ""
        parts.append(f'<line x1="{x0 + pw + 20}" y1="{ly}" x2="{x0 + pw + 44}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{x0 + pw + 50}" y="{ly + 4}">{html.escape(s["label"])}</text>')
    if note:
        parts.append(f'<text x="{x0}" y="{H - 14}" fill="#555" font-size="11">{html.escape(note)}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
