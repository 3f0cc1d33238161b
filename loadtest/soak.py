#!/usr/bin/env python3
"""Soak analysis: RSS (and open fds) of one process over time, from the CSV written by
`switchyard-load --csv-samples` (columns t_s,label,pid,rss_kb,fds,cpu_s).

Writes an SVG plot (hand-made, no plotting library) and a verdict: the least-squares
slope of RSS after warm-up (the first 20% of the run is excluded), in MB per 10 minutes.
"no leak" if the slope is below 1 MB / 10 min, otherwise "possible leak".

    loadtest/soak.py results/X/soak.csv --label gateway --svg soak.svg --json verdict.json

With `--store-csv` (columns epoch_s,stored_bytes,stored: the gateway's
`switchyard_responses_stored_bytes` and `switchyard_responses_stored`, sampled by
`loadtest/run --soak-api responses`), `--store-bound` (state.responses_max_bytes) and
`--store-start` (the soak's start, epoch seconds) it also reports when the stored
responses filled the bound (the first sample within 5 % of it), their bytes and
entries from then on, and draws the stored bytes on the plot.
"""

import argparse
import csv
import json
import math
import sys
from html import escape

LEAK_MB_PER_10MIN = 1.0


def load(path, label):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["label"] != label:
                continue
            rows.append((float(r["t_s"]), int(r["rss_kb"]), int(r["fds"]), float(r["cpu_s"])))
    rows.sort()
    return rows


def load_store(path):
    """(epoch_s, stored_bytes, stored) rows."""
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                rows.append((float(r["epoch_s"]), int(float(r["stored_bytes"])), int(float(r["stored"]))))
            except (KeyError, ValueError):
                continue
    rows.sort()
    return rows


def analyse_store(rows, bound, start):
    """When the store filled, and its bytes and entries from then on."""
    out = {"store_bound_bytes": bound, "store_samples": len(rows),
           "store_bytes_max": max((r[1] for r in rows), default=None)}
    out["store_within_bound"] = out["store_bytes_max"] is not None and out["store_bytes_max"] <= bound
    full = [r for r in rows if r[1] >= 0.95 * bound]
    if not full:
        out["store_filled_after_s"] = None
        return out
    t_fill = full[0][0]
    after = [r for r in rows if r[0] >= t_fill]
    out.update({
        "store_filled_after_s": round(t_fill - start, 1),
        "store_samples_after_fill": len(after),
        "store_bytes_min_after_fill": min(r[1] for r in after),
        "store_bytes_max_after_fill": max(r[1] for r in after),
        "store_entries_min_after_fill": min(r[2] for r in after),
        "store_entries_max_after_fill": max(r[2] for r in after),
    })
    return out


def regress(xs, ys):
    """Least squares y = a + b x; returns (b, a, stderr_b, r2)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    if sxx == 0:
        return 0.0, my, float("inf"), 0.0
    b = sxy / sxx
    a = my - b * mx
    resid = [y - (a + b * x) for x, y in zip(xs, ys)]
    sse = sum(e * e for e in resid)
    syy = sum((y - my) ** 2 for y in ys)
    r2 = 1 - sse / syy if syy > 0 else 1.0
    se = math.sqrt(sse / (n - 2) / sxx) if n > 2 else float("inf")
    return b, a, se, r2


def analyse(rows, warm_fraction=0.2):
    t_first, t_last = rows[0][0], rows[-1][0]
    cut = t_first + warm_fraction * (t_last - t_first)
    post = [r for r in rows if r[0] >= cut]
    if len(post) < 3:
        raise SystemExit("soak.py: fewer than 3 samples after warm-up; run longer")
    xs = [r[0] for r in post]
    ys = [r[1] / 1024.0 for r in post]  # MB
    slope, intercept, se, r2 = regress(xs, ys)
    per10 = slope * 600.0
    se10 = se * 600.0
    fds = [r[2] for r in post]
    span_min = (t_last - t_first) / 60.0
    verdict = "no leak" if per10 < LEAK_MB_PER_10MIN else "possible leak"
    return {
        "samples": len(rows),
        "samples_after_warmup": len(post),
        "duration_min": round(span_min, 2),
        "warmup_excluded_s": round(cut - t_first, 1),
        "rss_mb_start": round(rows[0][1] / 1024.0, 2),
        "rss_mb_at_warmup_end": round(ys[0], 2),
        "rss_mb_end": round(ys[-1], 2),
        "rss_mb_min_after_warmup": round(min(ys), 2),
        "rss_mb_max_after_warmup": round(max(ys), 2),
        "rss_mb_peak": round(max(r[1] for r in rows) / 1024.0, 2),
        "fds_min_after_warmup": min(fds),
        "fds_max_after_warmup": max(fds),
        "slope_mb_per_10min": round(per10, 3),
        "slope_stderr_mb_per_10min": round(se10, 3),
        "r2": round(r2, 3),
        "intercept_mb": round(intercept, 3),
        "cpu_s": round(rows[-1][3] - rows[0][3], 2),
        "threshold_mb_per_10min": LEAK_MB_PER_10MIN,
        "verdict": verdict,
        "note": (
            "short soak: a slope over a few minutes mostly reflects allocator warm-up and "
            "noise; the target is judged over 30 minutes"
            if span_min < 20
            else ""
        ),
        "_cut": cut,
        "_fit": (slope, intercept),
    }


def nice_step(span, target=6):
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def ticks(lo, hi, target=6):
    if hi <= lo:
        hi = lo + 1
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step) * step
    out = []
    v = start
    while v <= hi + 1e-9:
        if v >= lo - 1e-9:
            out.append(v)
        v += step
    return out, step


def fmt(v, step):
    if step >= 1:
        return f"{v:.0f}"
    digits = max(0, -int(math.floor(math.log10(step))))
    return f"{v:.{digits}f}"


def svg(rows, res, title, store=()):
    """`store`: (t_s on the rows' clock, stored MB) points, drawn on the RSS axis."""
    W, H = 960, 460
    L, R, T, B = 70, 70, 50, 60
    pw, ph = W - L - R, H - T - B
    ts = [r[0] for r in rows]
    rss = [r[1] / 1024.0 for r in rows]
    fds = [r[2] for r in rows]
    use_min = ts[-1] - ts[0] > 300
    tdiv = 60.0 if use_min else 1.0
    t0, t1 = ts[0], ts[-1] if ts[-1] > ts[0] else ts[0] + 1
    lo, hi = min(rss + [v for _, v in store]), max(rss + [v for _, v in store])
    pad = max((hi - lo) * 0.1, 0.5)
    lo, hi = max(0.0, lo - pad), hi + pad
    flo, fhi = 0, max(max(fds) * 1.1, 10)

    def X(t):
        return L + (t - t0) / (t1 - t0) * pw

    def Y(v):
        return T + ph - (v - lo) / (hi - lo) * ph

    def YF(v):
        return T + ph - (v - flo) / (fhi - flo) * ph

    o = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    cut = res["_cut"]
    o.append(
        f'<rect x="{L}" y="{T}" width="{max(X(cut) - L, 0):.1f}" height="{ph}" fill="#eeeeee"/>'
    )
    o.append(
        f'<text x="{L + 4}" y="{T + 14}" fill="#777">warm-up (excluded)</text>'
    )
    yt, ystep = ticks(lo, hi)
    for v in yt:
        y = Y(v)
        o.append(f'<line x1="{L}" x2="{L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        o.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v, ystep)}</text>')
    ft, fstep = ticks(flo, fhi)
    for v in ft:
        o.append(
            f'<text x="{L + pw + 6}" y="{YF(v) + 4:.1f}" fill="#d9730d">{fmt(v, fstep)}</text>'
        )
    xt, xstep = ticks(t0 / tdiv, t1 / tdiv, 8)
    for v in xt:
        x = X(v * tdiv)
        o.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{T + ph}" stroke="#f0f0f0"/>')
        o.append(f'<text x="{x:.1f}" y="{T + ph + 18}" text-anchor="middle">{fmt(v, xstep)}</text>')
    o.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    o.append(
        f'<text x="{L + pw / 2}" y="{H - 18}" text-anchor="middle">time ({"min" if use_min else "s"})</text>'
    )
    o.append(
        f'<text transform="translate(18,{T + ph / 2}) rotate(-90)" text-anchor="middle" '
        f'fill="#1f5fbf">RSS (MB)</text>'
    )
    o.append(
        f'<text transform="translate({W - 16},{T + ph / 2}) rotate(90)" text-anchor="middle" '
        f'fill="#d9730d">open fds</text>'
    )
    fpts = " ".join(f"{X(t):.1f},{YF(f):.1f}" for t, f in zip(ts, fds))
    o.append(f'<polyline points="{fpts}" fill="none" stroke="#d9730d" stroke-width="1" opacity="0.7"/>')
    if store:
        spts = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in store if t0 <= t <= t1)
        o.append(f'<polyline points="{spts}" fill="none" stroke="#2e8b57" stroke-width="1.2"/>')
    pts = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in zip(ts, rss))
    o.append(f'<polyline points="{pts}" fill="none" stroke="#1f5fbf" stroke-width="1.6"/>')
    slope, icpt = res["_fit"]
    o.append(
        f'<line x1="{X(cut):.1f}" y1="{Y(icpt + slope * cut):.1f}" x2="{X(t1):.1f}" '
        f'y2="{Y(icpt + slope * t1):.1f}" stroke="#c0392b" stroke-width="1.4" stroke-dasharray="6,4"/>'
    )
    legend = (
        f"slope after warm-up: {res['slope_mb_per_10min']:+.3f} MB / 10 min "
        f"(± {res['slope_stderr_mb_per_10min']:.3f}), verdict: {res['verdict']}"
    )
    o.append(f'<text x="{L}" y="{T - 8}" fill="#c0392b">{escape(legend)}</text>')
    o.append(
        f'<text x="{L + pw}" y="{T - 8}" text-anchor="end">'
        f'<tspan fill="#1f5fbf">— RSS</tspan>  <tspan fill="#d9730d">— fds</tspan>  '
        + ('<tspan fill="#2e8b57">— stored responses (MB)</tspan>  ' if store else "")
        + '<tspan fill="#c0392b">- - fit</tspan></text>'
    )
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--label", default="gateway", help="which watched process (CSV label)")
    ap.add_argument("--warmup-fraction", type=float, default=0.2)
    ap.add_argument("--svg")
    ap.add_argument("--json")
    ap.add_argument("--title", default="RSS over time")
    ap.add_argument("--store-csv", help="stored-responses samples: epoch_s,stored_bytes,stored")
    ap.add_argument("--store-bound", type=int, help="state.responses_max_bytes")
    ap.add_argument("--store-start", type=float, help="epoch seconds of the soak's start")
    a = ap.parse_args()
    rows = load(a.csv, a.label)
    if len(rows) < 5:
        sys.exit(f"soak.py: only {len(rows)} samples for label {a.label!r} in {a.csv}")
    res = analyse(rows, a.warmup_fraction)
    store, points = None, []
    if a.store_csv:
        if a.store_bound is None or a.store_start is None:
            sys.exit("soak.py: --store-csv needs --store-bound and --store-start")
        srows = load_store(a.store_csv)
        store = analyse_store(srows, a.store_bound, a.store_start)
        # The driver's t_s counts from about the soak's start.
        points = [(t - a.store_start, b / 1048576.0) for t, b, _ in srows]
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(rows, res, a.title, points))
    out = {k: v for k, v in res.items() if not k.startswith("_")}
    out["label"] = a.label
    if store:
        out.update(store)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    print(
        f"{a.label}: RSS {out['rss_mb_at_warmup_end']} -> {out['rss_mb_end']} MB after warm-up, "
        f"slope {out['slope_mb_per_10min']:+.3f} MB/10 min (± {out['slope_stderr_mb_per_10min']}), "
        f"R² {out['r2']}: {out['verdict']}"
    )
    if store:
        if store.get("store_filled_after_s") is None:
            print(f"stored responses: never within 5 % of the bound {store['store_bound_bytes']} "
                  f"(max {store['store_bytes_max']} bytes)")
        else:
            print(
                f"stored responses: filled after {store['store_filled_after_s']} s; then "
                f"{store['store_bytes_min_after_fill']}-{store['store_bytes_max_after_fill']} bytes "
                f"(bound {store['store_bound_bytes']}), "
                f"{store['store_entries_min_after_fill']}-{store['store_entries_max_after_fill']} entries"
            )


if __name__ == "__main__":
    main()
