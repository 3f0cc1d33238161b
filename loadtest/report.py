#!/usr/bin/env python3
"""Builds loadtest/results/<name>.md (and a combined JSON) from the raw files that
loadtest/run leaves in loadtest/results/<name>/: meta.env, commands.tsv, one JSON per
step (switchyard-load --json), soak-verdict.json and the gateway log summaries.

    loadtest/report.py loadtest/results/NAME --out loadtest/results/NAME.md --json loadtest/results/NAME.json
"""

import argparse
import json
import os
import shutil
import re

# Targets from the issue.
T_TRANS_PCT = 50.0
T_PASS_PCT = 60.0
T_P99_ADDED_MS = 0.5
T_P50_ADDED_MS = 0.1
T_STREAMS = 10000
T_STREAM_RSS_MB = 300.0
T_IDLE_RSS_MB = 30.0
T_128_RSS_MB = 50.0
T_SOAK_MB_10MIN = 1.0


def read_meta(d):
    meta = {}
    p = os.path.join(d, "meta.env")
    if os.path.exists(p):
        for line in open(p):
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k] = v
    return meta


def read_steps(d):
    steps = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".json") and f not in ("soak-verdict.json",):
            try:
                steps[f[:-5]] = json.load(open(os.path.join(d, f)))
            except (OSError, ValueError):
                pass
    return steps


def read_commands(d):
    out = []
    p = os.path.join(d, "commands.tsv")
    if os.path.exists(p):
        for line in open(p):
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) == 3:
                out.append(parts)
    return out


def watch(step, label):
    for w in (step or {}).get("watch", []):
        if w.get("label") == label:
            return w
    return {}


def mb(kb):
    return None if kb in (None, "") else float(kb) / 1024.0


def f1(v, unit="", digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def ms(us):
    return None if us is None else us / 1000.0


def pct(h, q):
    if not h or not h.get("count"):
        return None
    return h.get(q)


def other(step):
    m = step.get("machine")
    return f"{m['other_cores']:.2f}" if isinstance(m, dict) else "–"


def errs(step):
    e = step.get("errors") or {}
    if not e:
        return "0"
    return f"{sum(e.values())} (" + ", ".join(f"{k}: {v}" for k, v in sorted(e.items())) + ")"


def outcomes(step):
    e = step.get("outcomes") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(e.items())) or "–"


def verdict_row(rows, name, figure, threshold, ok, margin):
    if isinstance(ok, str):
        mark = ok
    elif ok is None:
        mark = "not measured"
    else:
        mark = "**met**" if ok else "**missed**"
    rows.append(f"| {name} | {figure} | {threshold} | {mark} | {margin} |")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--out", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    d = a.raw
    meta = read_meta(d)
    steps = read_steps(d)
    cmds = read_commands(d)
    soak = None
    if os.path.exists(os.path.join(d, "soak-verdict.json")):
        soak = json.load(open(os.path.join(d, "soak-verdict.json")))
    name = meta.get("name", os.path.basename(d.rstrip("/")))
    rel = os.path.basename(d.rstrip("/"))

    A, B, C = steps.get("a"), steps.get("b"), steps.get("c")
    DD, DP, DT = steps.get("d_direct"), steps.get("d_pass"), steps.get("d_trans")
    E, F, G = steps.get("e"), steps.get("f"), steps.get("g")
    derived = {}
    o = []
    o.append(f"# Switchyard load test: {name}\n")
    o.append(
        f"Run {meta.get('date_utc', '?')} on commit `{meta.get('git_commit', '?')}`"
        + (f" (+{meta.get('git_dirty')} modified tracked files)" if meta.get("git_dirty", "0") != "0" else "")
        + f", gateway `server.threads: {meta.get('gateway_threads', '?')}`, "
        + f"provider connections {'HTTP/2' if meta.get('upstream_http2') == 'true' else 'HTTP/1.1'}, "
        f"gateway log level `{meta.get('gateway_log', '?')}`. Command: `{meta.get('run_command', 'loadtest/run')}`.\n"
    )
    others = [s["machine"]["other_cores"] for s in steps.values() if isinstance(s.get("machine"), dict)]
    o.append(
        f"All figures come from one run on a shared {meta.get('nproc', '?')}-core machine (load average "
        f"{meta.get('loadavg_start', '?')} at the start, {meta.get('loadavg_end', '?')} at the end). "
        + (f"Other processes used {min(others):.2f}–{max(others):.2f} cores during the steps "
           "(column \"other cores\"); " if others else "")
        + "driver, mock and gateway share the same cores, so throughput is bounded by their "
        "combined CPU. Single figures vary by ±10–20 % between runs.\n"
    )

    # ---------------------------------------------------------------- targets
    t = ["| target | measured | threshold | result | margin |", "|---|---|---|---|---|"]
    a_rps = A and A.get("rps")
    if A and B and a_rps:
        p = 100.0 * B["rps"] / a_rps
        derived["translated_pct_of_direct"] = round(p, 1)
        verdict_row(t, "translated req/s vs direct (b / a)", f"{p:.1f} % ({B['rps']:.0f} / {a_rps:.0f})",
                    f"≥ {T_TRANS_PCT:.0f} %", p >= T_TRANS_PCT, f"{p - T_TRANS_PCT:+.1f} pp")
    else:
        verdict_row(t, "translated req/s vs direct (b / a)", "–", f"≥ {T_TRANS_PCT:.0f} %", None, "")
    if A and C and a_rps:
        p = 100.0 * C["rps"] / a_rps
        derived["passthrough_pct_of_direct"] = round(p, 1)
        verdict_row(t, "pass-through req/s vs direct (c / a)", f"{p:.1f} % ({C['rps']:.0f} / {a_rps:.0f})",
                    f"≥ {T_PASS_PCT:.0f} %", p >= T_PASS_PCT, f"{p - T_PASS_PCT:+.1f} pp")
    else:
        verdict_row(t, "pass-through req/s vs direct (c / a)", "–", f"≥ {T_PASS_PCT:.0f} %", None, "")
    for label, G_ in (("pass-through", DP), ("translated", DT)):
        if DD and G_:
            for q, thr in (("p50", T_P50_ADDED_MS), ("p99", T_P99_ADDED_MS)):
                added = (G_["latency_us"][q] - DD["latency_us"][q]) / 1000.0
                derived[f"{q}_added_ms_{label}"] = round(added, 3)
                verdict_row(t, f"{q} added at 1000 req/s, {label} (d)",
                            f"{added:.3f} ms ({G_['latency_us'][q] / 1000:.3f} − {DD['latency_us'][q] / 1000:.3f})",
                            f"≤ {thr} ms", added <= thr, f"{thr - added:+.3f} ms")
        else:
            verdict_row(t, f"latency added at 1000 req/s, {label} (d)", "–", "", None, "")
    n_streams = int(meta.get("streams", "0") or 0)
    if F:
        err_total = F.get("errors_total", 0)
        done = F.get("ok", 0)
        scale = n_streams >= T_STREAMS
        ok = err_total == 0 and done == n_streams
        fig = f"{n_streams} streams: {done} complete, {err_total} errors"
        if not scale:
            fig += f" (run at {n_streams}, below the target's {T_STREAMS})"
        small = f"met at {n_streams} (target scale not run)" if ok else "**missed** (below target scale too)"
        verdict_row(t, f"{T_STREAMS:,} concurrent streams × 200 events: zero errors (f)", fig, "0 errors",
                    ok if scale else small,
                    "0 errors" if ok else f"{err_total} errors, {n_streams - done} not complete")
        w = watch(F, "gateway")
        peak = mb(w.get("rss_kb_peak"))
        if peak is not None:
            verdict_row(t, "peak gateway RSS during the streams (f)",
                        f"{peak:.1f} MB at {n_streams} streams", f"≤ {T_STREAM_RSS_MB:.0f} MB"
                        + ("" if scale else f" (at {T_STREAMS:,})"),
                        (peak <= T_STREAM_RSS_MB) if scale else
                        (f"under the limit at {n_streams} (target scale not run)" if peak <= T_STREAM_RSS_MB else False),
                        f"{T_STREAM_RSS_MB - peak:+.1f} MB")
    else:
        verdict_row(t, "concurrent streams (f)", "–", "", None, "")
    idle = mb(meta.get("gateway_idle_rss_kb"))
    if idle is not None:
        verdict_row(t, "idle gateway RSS (e)", f"{idle:.1f} MB", f"≤ {T_IDLE_RSS_MB:.0f} MB",
                    idle <= T_IDLE_RSS_MB, f"{T_IDLE_RSS_MB - idle:+.1f} MB")
    if E:
        peak = mb(watch(E, "gateway").get("rss_kb_peak"))
        verdict_row(t, "gateway RSS at 128 connections, non-streaming (e)", f"{peak:.1f} MB (peak)",
                    f"≤ {T_128_RSS_MB:.0f} MB", peak <= T_128_RSS_MB, f"{T_128_RSS_MB - peak:+.1f} MB")
    if soak:
        s = soak["slope_mb_per_10min"]
        verdict_row(t, f"soak RSS slope after warm-up (g, {soak['duration_min']:.1f} min)",
                    f"{s:+.3f} MB / 10 min (± {soak['slope_stderr_mb_per_10min']:.3f}, R² {soak['r2']})",
                    f"< {T_SOAK_MB_10MIN:.0f} MB / 10 min", s < T_SOAK_MB_10MIN,
                    f"{T_SOAK_MB_10MIN - s:+.3f} MB / 10 min"
                    + ("; short soak, see note" if soak["duration_min"] < 20 else ""))
    o.append("## Targets\n")
    o.extend(t)
    o.append("")
    if meta.get("stream_fd_warning"):
        o.append(f"> fd limit: {meta['stream_fd_warning']}. Streams beyond that fail at "
                 "accept or connect in the gateway; this is a machine limit (`ulimit -Hn`), "
                 "not a gateway property.\n")

    # ---------------------------------------------------------------- throughput
    if A or B or C:
        o.append("## Throughput (closed loop, 64 connections, 1 KB OpenAI-shaped requests)\n")
        o.append("| step | path | req/s | % of direct | errors | p50 ms | p99 ms | p99.9 ms | gateway CPU µs/req | gateway CPU % | gateway peak RSS MB | mock CPU µs/req | driver CPU µs/req | other cores |")
        o.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, label in (("a", "direct to mock"), ("b", "gateway, translated (OpenAI → anth)"),
                       ("c", "gateway, pass-through (OpenAI → oai)")):
        s = steps.get(key)
        if not s:
            continue
        g, m, dr = watch(s, "gateway"), watch(s, "mock"), watch(s, "driver")
        share = f"{100.0 * s['rps'] / a_rps:.1f} %" if a_rps else "–"
        o.append(
            f"| {key} | {label} | {s['rps']:.0f} | {share} | {errs(s)} | "
            f"{f1(ms(pct(s['latency_us'], 'p50')), '', 3)} | {f1(ms(pct(s['latency_us'], 'p99')), '', 3)} | "
            f"{f1(ms(pct(s['latency_us'], 'p99_9')), '', 3)} | {f1(g.get('cpu_us_per_request'))} | "
            f"{f1(g.get('cpu_util_pct'))} | {f1(mb(g.get('rss_kb_peak')))} | "
            f"{f1(m.get('cpu_us_per_request'))} | {f1(dr.get('cpu_us_per_request'))} | {other(s)} |")
    if A or B or C:
        o.append("")

    # ---------------------------------------------------------------- reference proxies
    REF_ROWS = (("direct", "direct to mock (no proxy)", None),
                ("haproxy", "HAProxy, 1 thread, `http-reuse always`", "proxy"),
                ("nginx", "nginx, 1 worker, upstream keepalive", "proxy"),
                ("pingora", "minimal Pingora `ProxyHttp`, 1 thread", "proxy"),
                ("pass", f"Switchyard pass-through, {meta.get('gateway_threads', '?')} threads", "gateway"),
                ("trans", f"Switchyard OpenAI → Anthropic, {meta.get('gateway_threads', '?')} threads", "gateway"))
    ref = {}
    for key, _, who in REF_ROWS:
        rounds = [steps[f"r{n}-{key}"] for n in (1, 2) if f"r{n}-{key}" in steps]
        if not rounds:
            continue
        cpu = [watch(s, who).get("cpu_us_per_request") for s in rounds] if who else []
        cpu = [c for c in cpu if c is not None]
        ref[key] = {
            "rps": sum(s["rps"] for s in rounds) / len(rounds),
            "p50": sum(pct(s["latency_us"], "p50") for s in rounds) / len(rounds),
            "p99": sum(pct(s["latency_us"], "p99") for s in rounds) / len(rounds),
            "cpu": sum(cpu) / len(cpu) if cpu else None,
            "errors": sum(sum((s.get("errors") or {}).values()) for s in rounds),
            "rounds": len(rounds),
        }
    if ref:
        o.append("## Reference proxies, side by side (closed loop, 64 connections, 1 KB OpenAI requests)\n")
        o.append("Every proxy forwards to the same mock (one thread). CPU per request is the proxy "
                 "process's utime + stime over the step divided by its requests; each figure is "
                 "the mean of the rounds, run in the order of the table. HAProxy is the reference "
                 "the targets are stated against.\n")
        o.append("| proxy | req/s (share of direct) | p50 / p99 ms | proxy CPU µs/request | ÷ HAProxy CPU | req/s ÷ HAProxy | errors |")
        o.append("|---|---|---|---|---|---|---|")
        direct = ref.get("direct", {}).get("rps")
        ha = ref.get("haproxy", {})
        for key, label, _ in REF_ROWS:
            r = ref.get(key)
            if not r:
                continue
            share = f" ({r['rps'] / direct:.2f})" if direct else ""
            ratio = (f"{r['cpu'] / ha['cpu']:.2f}×" if r["cpu"] and ha.get("cpu") else "–")
            rps_ratio = (f"{r['rps'] / ha['rps']:.2f}" if ha.get("rps") and key != "direct" else "–")
            o.append(f"| {label} | {r['rps']:.0f}{share} | {ms(r['p50']):.2f} / {ms(r['p99']):.2f} | "
                     f"{f1(r['cpu'])} | {ratio} | {rps_ratio} | {r['errors']} |")
            if r["cpu"] and ha.get("cpu"):
                derived[f"ref_cpu_ratio_{key}"] = round(r["cpu"] / ha["cpu"], 3)
            if ha.get("rps") and key != "direct":
                derived[f"ref_rps_ratio_{key}"] = round(r["rps"] / ha["rps"], 3)
        o.append("\nTargets (issue #14): translated ≤ 1.0× HAProxy's CPU per request, pass-through "
                 "≤ 0.8×, translated req/s ≥ HAProxy's.\n")
        o.append(f"HAProxy: `{meta.get('haproxy_version', '?')}`; nginx: `{meta.get('nginx_version', '?')}`.\n")

    # ---------------------------------------------------------------- logging cost (l)
    L_ROWS = (("off", "access log off (`switchyard::access=off`)"),
              ("text", "text access log to stderr (a file)"),
              ("json", "JSON access log to stderr (a file)"),
              ("jsonfile", "JSON access log to a rotating file (16 MiB, gzip)"),
              ("body1k", "text to stderr + body log"),
              ("text16k", "text access log to stderr (a file)"),
              ("body16k", "text to stderr + body log"))
    lres = []
    p = os.path.join(d, "l-results.jsonl")
    if os.path.exists(p):
        lres = [json.loads(x) for x in open(p) if x.strip()]
    if lres:
        def mean(v):
            v = [x for x in v if x is not None]
            return sum(v) / len(v) if v else None
        agg = {}
        for key, _ in L_ROWS:
            rs = [r for r in lres if r["variant"] == key]
            if not rs:
                continue
            agg[key] = {
                "rounds": rs,
                "body": rs[0]["body_bytes"],
                "rps": mean([r["rps"] for r in rs]),
                "p50": mean([r["p50_us"] for r in rs]),
                "p99": mean([r["p99_us"] for r in rs]),
                "cpu": mean([r["gateway_cpu_us_per_request"] for r in rs]),
                "cpus": [r["gateway_cpu_us_per_request"] for r in rs],
                "errors": sum(r["errors"] + r["non2xx"] for r in rs),
                "other": mean([r["other_cores"] for r in rs]),
                "load": mean([r["loadavg_1m_start"] for r in rs]),
                # Only where stderr holds the access lines (about one per request).
                "line": mean([r["stderr_bytes"] / r["stderr_lines"] for r in rs
                              if r.get("stderr_lines") and r["stderr_lines"] >= r["requests"]]),
                "body_drops": sum(r.get("body_log_dropped") or 0 for r in rs),
                "line_drops": sum(r.get("log_lines_dropped") or 0 for r in rs),
            }
        base_of = {1024: "text", 16384: "text16k"}
        n_rounds = max(r["round"] for r in lres)
        o.append(f"## Logging cost (l): {n_rounds} rounds, wrk closed loop, "
                 f"{meta.get('log_connections', '?')} connections, {meta.get('duration_s', '?')} s per run, pass-through (OpenAI → oai)\n")
        o.append("One gateway per variant, started fresh, 3 s wrk warm-up, then the measured run; "
                 "odd rounds in table order, even rounds reversed. Gateway CPU µs/request = the "
                 "gateway process's utime + stime over the measured run plus one idle second "
                 "(the writer, body-log and gzip threads finish their backlog) ÷ requests. "
                 "Δ is against the text access log at the same body size; \"added\" against the "
                 "access log off. Throughput and latency are closed-loop figures on a shared "
                 "machine (other agents compiling): CPU per request is the tracked figure.\n")
        o.append("| variant | body | req/s | Δ req/s vs text | p50 / p99 ms | gateway CPU µs/req (per round) | Δ CPU vs text µs | added vs off µs | errors | other cores | load avg 1m | stderr bytes/line |")
        o.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        off = agg.get("off", {}).get("cpu")
        for key, label in L_ROWS:
            a_ = agg.get(key)
            if not a_:
                continue
            b_ = agg.get(base_of.get(a_["body"], ""), {})
            drps = (f"{100.0 * (a_['rps'] / b_['rps'] - 1):+.1f} %" if b_.get("rps") and key != base_of.get(a_["body"]) else "–")
            dcpu = (f"{a_['cpu'] - b_['cpu']:+.2f}" if b_.get("cpu") and key != base_of.get(a_["body"]) else "–")
            added = (f"{a_['cpu'] - off:+.2f}" if off is not None and a_["body"] == 1024 and key != "off" else "–")
            per = " / ".join(f"{c:.1f}" for c in a_["cpus"] if c is not None)
            o.append(f"| {key}: {label} | {a_['body'] // 1024} KB | {a_['rps']:.0f} | {drps} | "
                     f"{ms(a_['p50']):.2f} / {ms(a_['p99']):.2f} | {a_['cpu']:.2f} ({per}) | {dcpu} | {added} | "
                     f"{a_['errors']} | {f1(a_['other'], '', 2)} | {f1(a_['load'], '', 2)} | {f1(a_['line'], '', 0)} |")
            derived[f"log_{key}_cpu_us"] = round(a_["cpu"], 2)
            derived[f"log_{key}_rps"] = round(a_["rps"], 1)
        drops = {k: (v["body_drops"], v["line_drops"]) for k, v in agg.items() if v["body_drops"] or v["line_drops"]}
        o.append("")
        o.append("Dropped while measuring (`switchyard_body_log_dropped_total`, `switchyard_log_lines_dropped_total`): "
                 + (", ".join(f"{k}: {b:.0f} body records, {l_:.0f} lines" for k, (b, l_) in drops.items()) if drops else "none")
                 + ".\n")
        # Noise: the spread of the same variant between rounds.
        spreads = [max(v["cpus"]) - min(v["cpus"]) for v in agg.values() if len([c for c in v["cpus"] if c]) > 1]
        if spreads:
            derived["log_cpu_round_spread_us_max"] = round(max(spreads), 2)
            o.append(f"Round-to-round spread of one variant's CPU µs/request: "
                     f"{min(spreads):.2f}–{max(spreads):.2f} µs (the noise floor of a difference).\n")
        tl = ["| target | measured | threshold | result | margin |", "|---|---|---|---|---|"]
        for key in ("json", "jsonfile"):
            if off is not None and agg.get(key):
                add = agg[key]["cpu"] - off
                derived[f"log_{key}_added_us"] = round(add, 2)
                # A difference smaller than the round-to-round spread of the two rows
                # is not a measurement of anything.
                noise = max(max(agg[k]["cpus"]) - min(agg[k]["cpus"]) for k in (key, "off"))
                per_round = ", ".join(
                    f"round {r['round']}: {r['gateway_cpu_us_per_request'] - o_['gateway_cpu_us_per_request']:+.1f}"
                    for r in agg[key]["rounds"] for o_ in agg["off"]["rounds"] if o_["round"] == r["round"])
                ok = (add <= 3.0) if abs(add - 3.0) > noise else "not resolved (noise)"
                verdict_row(tl, f"JSON access log at info, added CPU per request, wall clock ({key} − off)",
                            f"{add:+.2f} µs ({agg[key]['cpu']:.2f} − {off:.2f}; {per_round})", "≤ 3 µs", ok,
                            f"{3.0 - add:+.2f} µs; round spread {noise:.1f} µs")
        for key, base in (("body1k", "text"), ("body16k", "text16k")):
            if agg.get(key) and agg.get(base):
                cost = 100.0 * (1 - agg[key]["rps"] / agg[base]["rps"])
                derived[f"log_{key}_rps_cost_pct"] = round(cost, 1)
                verdict_row(tl, f"body log on, req/s cost at {agg[key]['body'] // 1024} KB ({key} vs {base})",
                            f"{cost:.1f} % ({agg[key]['rps']:.0f} vs {agg[base]['rps']:.0f} req/s), "
                            f"{agg[key]['cpu'] - agg[base]['cpu']:+.2f} µs CPU/request", "report", "reported", "")
        o.extend(tl)
        o.append("")
    cg = []
    p = os.path.join(d, "l-callgrind.jsonl")
    if os.path.exists(p):
        cg = [json.loads(x) for x in open(p) if x.strip()]
    if cg:
        per = {}
        for v in dict.fromkeys(r["variant"] for r in cg):
            rs = sorted((r for r in cg if r["variant"] == v and r.get("ir")), key=lambda r: r["completed"])
            if len(rs) >= 2 and rs[-1]["completed"] > rs[0]["completed"]:
                per[v] = (rs[-1]["ir"] - rs[0]["ir"]) / (rs[-1]["completed"] - rs[0]["completed"])
        o.append("## Logging cost, instructions per request (callgrind)\n")
        o.append(f"The gateway under `valgrind --tool=callgrind` (every thread of the process), "
                 f"two runs per variant with {meta.get('log_callgrind_requests', 'N1,N2')} requests "
                 "(`server.threads: 1`, 4 connections, switchyard-load, 1 KB, pass-through); Ir/request = (Ir₂ − Ir₁) ÷ "
                 "(requests₂ − requests₁), which cancels start-up and shutdown. Instruction counts "
                 "do not depend on the load of the machine; the conversion to µs uses this machine's "
                 "ns per instruction for the text variant (its CPU µs/request above ÷ its Ir/request), "
                 "an estimate.\n")
        o.append("| variant | Ir/request | Δ vs text | added vs off | ≈ added µs |")
        o.append("|---|---|---|---|---|")
        ns_per_ir = None
        if per.get("text") and lres:
            t_cpu = derived.get("log_text_cpu_us")
            if t_cpu:
                ns_per_ir = t_cpu * 1000.0 / per["text"]
                derived["ns_per_instruction_text"] = round(ns_per_ir, 4)
        for v, ir in per.items():
            dt = f"{ir - per['text']:+,.0f}" if "text" in per and v != "text" else "–"
            do = f"{ir - per['off']:+,.0f}" if "off" in per and v != "off" else "–"
            us = (f"{(ir - per['off']) * ns_per_ir / 1000.0:+.2f}" if ns_per_ir and "off" in per and v != "off" else "–")
            o.append(f"| {v} | {ir:,.0f} | {dt} | {do} | {us} |")
            derived[f"callgrind_ir_per_request_{v}"] = round(ir)
        if ns_per_ir:
            o.append(f"\nns per instruction (text variant): {ns_per_ir:.3f}. It divides utime + stime "
                     "by user-space instructions, so the kernel's share of a request (syscalls) is "
                     "spread over the instructions: an upper bound for user-space work, while the "
                     "kernel time of the log writes themselves is not in Ir.\n")
            tc = ["| target | measured | threshold | result | margin |", "|---|---|---|---|---|"]
            for v in ("json", "jsonfile"):
                if v in per and "off" in per:
                    us = (per[v] - per["off"]) * ns_per_ir / 1000.0
                    derived[f"callgrind_{v}_added_us"] = round(us, 2)
                    verdict_row(tc, f"JSON access log at info, added per request, instructions ({v} − off)",
                                f"{per[v] - per['off']:+,.0f} Ir ≈ {us:+.2f} µs", "≤ 3 µs", us <= 3.0,
                                f"{3.0 - us:+.2f} µs")
            o.append("")
            o.extend(tc)
        raw = ", ".join(f"{r['variant']} {r['completed']} req: {r['ir']}" for r in cg)
        o.append(f"\nRaw totals (Ir): {raw}.\n")

    # ---------------------------------------------------------------- cache
    H = [(k, steps[k]) for k in ("h-miss-1", "h-hit-1", "h-miss-2", "h-hit-2") if k in steps]
    if H:
        o.append("## Response cache: hits against misses (closed loop, 64 connections, 1 KB, pass-through)\n")
        o.append("| step | req/s | errors | p50 ms | p99 ms | gateway CPU µs/req | mock CPU µs/req |")
        o.append("|---|---|---|---|---|---|---|")
        for key, st in H:
            g, m = watch(st, "gateway"), watch(st, "mock")
            o.append(f"| {key} | {st['rps']:.0f} | {errs(st)} | {f1(ms(pct(st['latency_us'], 'p50')), '', 3)} | "
                     f"{f1(ms(pct(st['latency_us'], 'p99')), '', 3)} | {f1(g.get('cpu_us_per_request'))} | "
                     f"{f1(m.get('cpu_us_per_request'))} |")
        misses = [st["rps"] for k, st in H if "miss" in k]
        hits = [st["rps"] for k, st in H if "hit" in k]
        if misses and hits:
            ratio = (sum(hits) / len(hits)) / (sum(misses) / len(misses))
            derived["cache_hit_over_miss_rps"] = round(ratio, 3)
            o.append(f"\nHit req/s ÷ miss req/s (mean of rounds): **{ratio:.2f}×** (target ≥ 2×).\n")
    if meta.get("cache_bytes_max"):
        o.append(f"Soak cache bytes: max sampled `switchyard_cache_bytes` = {meta['cache_bytes_max']} "
                 f"of `cache.max_bytes` = {meta.get('cache_max_bytes')} "
                 f"({meta.get('cache_bytes_samples')} samples, one per second).\n")

    # ---------------------------------------------------------------- latency
    if DD or DP or DT:
        o.append("## Latency at a fixed 1000 req/s (open loop, 1 KB, from the intended start)\n")
        o.append("| step | path | achieved req/s | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | service p50 ms | service p99 ms | send lag p50 / p99 ms | gateway CPU % | other cores |")
        o.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for key, label, s in (("d_direct", "direct to mock", DD), ("d_pass", "gateway pass-through", DP),
                              ("d_trans", "gateway translated", DT)):
            if not s:
                continue
            h, sv, lag = s["latency_us"], s["service_time_us"], s["send_lag_us"]
            o.append(
                f"| {key} | {label} | {s['rps']:.0f} | {errs(s)} | {f1(ms(pct(h, 'p50')), '', 3)} | "
                f"{f1(ms(pct(h, 'p90')), '', 3)} | {f1(ms(pct(h, 'p99')), '', 3)} | {f1(ms(pct(h, 'p99_9')), '', 3)} | "
                f"{f1(ms(pct(h, 'max')), '', 3)} | {f1(ms(pct(sv, 'p50')), '', 3)} | {f1(ms(pct(sv, 'p99')), '', 3)} | "
                f"{f1(ms(pct(lag, 'p50')), '', 3)} / {f1(ms(pct(lag, 'p99')), '', 3)} | "
                f"{f1(watch(s, 'gateway').get('cpu_util_pct'))} | {other(s)} |")
        if DD:
            rows = []
            for label, s in (("pass-through", DP), ("translated", DT)):
                if not s:
                    continue
                for q in ("p50", "p90", "p99", "p99_9"):
                    add = (s["latency_us"][q] - DD["latency_us"][q]) / 1000.0
                    sadd = (s["service_time_us"][q] - DD["service_time_us"][q]) / 1000.0
                    derived[f"{q}_added_ms_{label}"] = round(add, 3)
                    derived[f"{q}_service_added_ms_{label}"] = round(sadd, 3)
                    rows.append(f"| {label} | {q.replace('_', '.')} | {add:+.3f} | {sadd:+.3f} |")
            o.append("\nAdded by the gateway (gateway − direct):\n")
            o.append("| path | quantile | added ms (from intended start) | added ms (service time, from send) |")
            o.append("|---|---|---|---|")
            o.extend(rows)
        o.append("\nLatency is measured from each request's scheduled start (no coordinated omission); "
                 "service time from the moment it was written. The send lag is the scheduler's own "
                 "jitter and is common to both sides.\n")

    # ---------------------------------------------------------------- memory
    o.append("## Memory\n")
    o.append("| figure | value |")
    o.append("|---|---|")
    o.append(f"| gateway idle RSS (2 s after start, before any request) | {f1(idle)} MB, {meta.get('gateway_idle_fds', '–')} fds |")
    if E:
        w = watch(E, "gateway")
        o.append(f"| gateway RSS at 128 connections, non-streaming (e): peak / avg | {f1(mb(w.get('rss_kb_peak')))} / {f1(mb(w.get('rss_kb_avg')))} MB "
                 f"({E['rps']:.0f} req/s, errors {errs(E)}, peak fds {w.get('fds_peak')}) |")
    for step_key, label in (("b", "translated 64 conns (b)"), ("c", "pass-through 64 conns (c)")):
        s = steps.get(step_key)
        if s:
            o.append(f"| gateway peak RSS, {label} | {f1(mb(watch(s, 'gateway').get('rss_kb_peak')))} MB |")
    if F:
        o.append(f"| gateway peak RSS during {n_streams} streams (f) | {f1(mb(watch(F, 'gateway').get('rss_kb_peak')))} MB |")
        if meta.get("gateway_after_f_rss_kb"):
            o.append(f"| gateway RSS / fds 3 s after the streams ended | {f1(mb(meta['gateway_after_f_rss_kb']))} MB / {meta.get('gateway_after_f_fds')} |")
    if meta.get("gateway_after_soak_rss_kb"):
        o.append(f"| gateway RSS / fds 5 s after the soak | {f1(mb(meta['gateway_after_soak_rss_kb']))} MB / {meta.get('gateway_after_soak_fds')} |")
    if meta.get("gateway_final_rss_kb"):
        o.append(f"| gateway RSS at the end of the run | {f1(mb(meta['gateway_final_rss_kb']))} MB |")
    o.append("")

    # ---------------------------------------------------------------- streams
    if F:
        g, m, dr = watch(F, "gateway"), watch(F, "mock"), watch(F, "driver")
        o.append(f"## Concurrent streams (f)\n")
        o.append(f"{n_streams} streams (OpenAI client → `anth`, Anthropic provider), 200 events each, "
                 f"{meta.get('stream_delay_ms')} ms apart (≈ {200 * int(meta.get('stream_delay_ms', '0')) / 1000:.0f} s per stream), "
                 f"opened over {meta.get('stream_ramp_s')} s.\n")
        o.append("| figure | value |")
        o.append("|---|---|")
        o.append(f"| streams requested / completed fully | {n_streams} / {F.get('streams_done')} |")
        o.append(f"| errors | {errs(F)} |")
        o.append(f"| other outcomes | {outcomes(F)} |")
        o.append(f"| peak concurrent streams (driver's in-flight count) | {F.get('peak_inflight')} |")
        o.append(f"| SSE data events received | {F.get('events')} ({F.get('events', 0) / max(F.get('ok', 0), 1):.1f} per complete stream) |")
        for label, key in (("TTFT (to first SSE data event)", "ttft_us"), ("gap between events", "event_gap_us"),
                           ("whole stream", "latency_us")):
            h = F.get(key) or {}
            o.append(f"| {label}: p50 / p90 / p99 / p99.9 / max ms | "
                     + " / ".join(f1(ms(pct(h, q)), "", 1 if key == "latency_us" else 3) for q in ("p50", "p90", "p99", "p99_9", "max")) + " |")
        o.append(f"| gateway: RSS before / peak / after | {f1(mb(g.get('rss_kb_before')))} / {f1(mb(g.get('rss_kb_peak')))} / {f1(mb(g.get('rss_kb_after')))} MB |")
        if g.get("rss_kb_peak") and g.get("rss_kb_before") and n_streams:
            per = (g["rss_kb_peak"] - g["rss_kb_before"]) / n_streams
            derived["gateway_kb_per_stream"] = round(per, 1)
            o.append(f"| gateway: RSS per open stream, (peak − before) / N | {per:.1f} KB |")
        o.append(f"| gateway: peak open fds | {g.get('fds_peak')} |")
        o.append(f"| other processes during the step | {other(F)} cores |")
        o.append(f"| gateway: CPU | {f1(g.get('cpu_s'), ' s', 2)} ({f1(g.get('cpu_util_pct'))} % of one core), {f1(g.get('cpu_us_per_request'))} µs per stream |")
        o.append(f"| mock: peak RSS, CPU | {f1(mb(m.get('rss_kb_peak')))} MB, {f1(m.get('cpu_s'), ' s', 2)} |")
        o.append(f"| driver: peak RSS, CPU | {f1(mb(dr.get('rss_kb_peak')))} MB, {f1(dr.get('cpu_s'), ' s', 2)} |")
        delay = int(meta.get("stream_delay_ms", "0") or 0)
        tt = F.get("ttft_us") or {}
        if delay and tt.get("count"):
            o.append(f"\nTTFT note: the mock sends `message_start`, `content_block_start` and `ping` "
                     f"{delay} ms apart before the first text delta, and the gateway holds a stream until "
                     f"it has real content (so it can still fail over), so TTFT ≈ 3 × {delay} ms plus "
                     f"connection set-up and gateway time: p50 {(tt['p50'] - 3000 * delay) / 1000:+.1f} ms, "
                     f"p99 {(tt['p99'] - 3000 * delay) / 1000:+.1f} ms beyond 3 × delay (the ramp's connection "
                     "set-up included).")
        o.append(f"\nGateway RSS/fds samples every 0.5 s: `{rel}/f-samples.csv`.\n")

    # ---------------------------------------------------------------- soak
    if G:
        g = watch(G, "gateway")
        o.append("## Soak (g)\n")
        client = {"responses": "Responses client, `store: true`, unique prompts"}.get(meta.get("soak_api"), "OpenAI client")
        o.append(f"{meta.get('soak_minutes')} min of mixed load through the gateway ({client} → `anth`), "
                 f"open loop at {meta.get('soak_rate')} req/s. Kinds and weights: plain 50, stream 25 "
                 "(50 events, 20 ms apart), slow reader 10 (4 KB receive buffer, 20 ms pause per chunk), "
                 "client disconnect after 5 events 10, upstream `status=500` 5.\n")
        if meta.get("gateway_soak_start_rss_kb"):
            o.append(f"The soak ran on a freshly restarted gateway (RSS {f1(mb(meta['gateway_soak_start_rss_kb']))} MB "
                     "2 s after start), so the memory held after step f does not bend the slope.\n")
        o.append("| figure | value |")
        o.append("|---|---|")
        o.append(f"| requests completed / achieved req/s | {G.get('completed')} / {G.get('rps')} |")
        o.append(f"| errors | {errs(G)} |")
        o.append(f"| other outcomes | {outcomes(G)} |")
        for k, kv in (G.get("by_kind") or {}).items():
            h = kv.get("latency_us") or {}
            o.append(f"| kind {k}: completed, errors, p50 / p99 / max ms | {kv.get('completed')}, {kv.get('errors')}, "
                     + " / ".join(f1(ms(pct(h, q)), "", 2) for q in ("p50", "p99", "max")) + " |")
        o.append(f"| gateway CPU | {f1(g.get('cpu_s'), ' s', 2)} ({f1(g.get('cpu_util_pct'))} %), {f1(g.get('cpu_us_per_request'))} µs/request |")
        if soak:
            o.append(f"| gateway RSS: start / end of warm-up / end / peak | {soak['rss_mb_start']} / {soak['rss_mb_at_warmup_end']} / {soak['rss_mb_end']} / {soak['rss_mb_peak']} MB |")
            o.append(f"| RSS range after warm-up | {soak['rss_mb_min_after_warmup']} – {soak['rss_mb_max_after_warmup']} MB |")
            o.append(f"| RSS slope after warm-up (first {soak['warmup_excluded_s']} s excluded) | {soak['slope_mb_per_10min']:+.3f} MB / 10 min (± {soak['slope_stderr_mb_per_10min']:.3f}, R² {soak['r2']}) |")
            o.append(f"| verdict | **{soak['verdict']}** |")
            o.append(f"| open fds after warm-up, min – max | {soak['fds_min_after_warmup']} – {soak['fds_max_after_warmup']} |")
        if meta.get("mock_open_bodies_after_soak", "") != "":
            o.append(f"| mock response bodies still open 5 s after the soak | {meta['mock_open_bodies_after_soak']} |")
        if soak and "store_bound_bytes" in soak:
            bound = soak["store_bound_bytes"]
            o.append(f"| stored responses: bound (`state.responses_max_bytes`) | {bound} bytes ({bound / 1048576:.1f} MiB) |")
            if soak.get("store_filled_after_s") is None:
                o.append(f"| stored responses: filled | **never** within 5 % of the bound (max {soak.get('store_bytes_max')} bytes) |")
            else:
                o.append(f"| stored responses: filled (first sample within 5 % of the bound) | after {soak['store_filled_after_s']} s |")
                o.append(f"| `switchyard_responses_stored_bytes` after the fill, min – max | {soak['store_bytes_min_after_fill']} – {soak['store_bytes_max_after_fill']} ({soak['store_samples_after_fill']} samples, one per second) |")
                o.append(f"| `switchyard_responses_stored` (entries) after the fill, min – max | {soak['store_entries_min_after_fill']} – {soak['store_entries_max_after_fill']} |")
            o.append(f"| stored bytes, max over the soak | {soak.get('store_bytes_max')}: **{'within' if soak.get('store_within_bound') else 'ABOVE'} the bound** |")
        o.append("")
        if soak and soak.get("note"):
            o.append(f"Note: {soak['note']}.\n")
        # The plot sits next to the report, so it is committed with it (the raw
        # directory stays local).
        svg = os.path.join(d, "soak.svg")
        if os.path.exists(svg):
            shutil.copyfile(svg, os.path.join(os.path.dirname(os.path.abspath(a.out)), f"{rel}-soak.svg"))
            o.append(f"![gateway RSS during the soak]({rel}-soak.svg)\n")
        o.append(f"Samples: `{rel}/soak.csv` (local; t_s,label,pid,rss_kb,fds,cpu_s; label gateway, mock, driver)"
                 + (f", `{rel}/responses-store.csv` (epoch_s,stored_bytes,stored; one per second)" if soak and "store_bound_bytes" in soak else "")
                 + ".\n")

    # ---------------------------------------------------------------- gateway log
    o.append("## Gateway log during the run\n")
    o.append(f"{meta.get('gateway_log_lines', '?')} lines, {int(meta.get('gateway_log_bytes', '0') or 0) / 1e6:.1f} MB "
             f"(log level `{meta.get('gateway_log')}`: one access-log line per request).\n")
    for fname, title in (("gateway-status-counts.txt", "Access-log status counts"),
                         ("gateway-attempt-failures.txt", "Failed provider attempts (by label)"),
                         ("gateway-warnings.txt", "Warnings and errors (numbers folded to N)")):
        p = os.path.join(d, fname)
        text = open(p).read().strip() if os.path.exists(p) else ""
        o.append(f"{title}:\n")
        o.append("```\n" + (text or "(none)") + "\n```\n")

    # ---------------------------------------------------------------- machine
    o.append("## Machine and build\n")
    o.append("| fact | value |")
    o.append("|---|---|")
    for k, label in (("nproc", "CPUs (nproc)"), ("cpu", "CPU model"), ("mem_total_kb", "memory"),
                     ("kernel", "kernel (uname -r)"), ("loadavg_start", "load average at start"),
                     ("loadavg_end", "load average at end"), ("nofile", "open files limit (soft)"),
                     ("nofile_hard", "open files limit (hard)"), ("gateway_nofile_soft", "gateway's open files limit"),
                     ("git_commit", "git commit"), ("git_dirty", "modified tracked files"),
                     ("rustc", "rustc"), ("gateway_version", "switchyard --version"),
                     ("sha256_switchyard", "sha256 switchyard (16 hex)"),
                     ("sha256_switchyard-mock", "sha256 switchyard-mock"),
                     ("sha256_switchyard-load", "sha256 switchyard-load"),
                     ("gateway_threads", "gateway server.threads"),
                     ("upstream_http2", "gateway -> mock over HTTP/2 (h2c)"),
                     ("gateway_log", "gateway RUST_LOG"),
                     ("wrk_version", "wrk (step l)"), ("valgrind_version", "valgrind (step l)"),
                     ("uptime_start", "uptime at start"), ("uptime_end", "uptime at end")):
        v = meta.get(k, "–")
        if k == "mem_total_kb" and v not in ("–", ""):
            v = f"{int(v) / 1024 / 1024:.1f} GiB"
        o.append(f"| {label} | {v} |")
    o.append("\nMock: `switchyard-mock --listen 127.0.0.1:0 --threads 1`. Gateway config: "
             f"`{rel}/gateway.yaml`. Driver: 1 thread (current-thread runtime), one keep-alive "
             "connection per worker, TCP_NODELAY.\n")

    # ---------------------------------------------------------------- commands
    o.append("## Exact commands\n")
    o.append("Binaries are private copies of `target/release/*` made at the start of the run; "
             "`$MOCK`/`$GW` URLs and pids are those of this run.\n")
    o.append("```")
    o.append(meta.get("run_command", "loadtest/run"))
    o.append("```\n")
    for name_, what, cmd in cmds:
        o.append(f"- **{name_}** — {what}\n\n  ```\n  {cmd.strip()}\n  ```")
    o.append("")

    # ---------------------------------------------------------------- details
    o.append("## Per-step details (driver output)\n")
    for key in ("a", "b", "c", "d_direct", "d_pass", "d_trans", "e", "f", "g",
                "h-miss-1", "h-hit-1", "h-miss-2", "h-hit-2",
                *(f"r{n}-{k}" for n in (1, 2)
                  for k in ("direct", "haproxy", "nginx", "pingora", "pass", "trans"))):
        p = os.path.join(d, f"{key}.md")
        if os.path.exists(p):
            text = open(p).read().replace(os.path.abspath(d).rstrip("/") + "/", f"results/{rel}/")
            text = re.sub(r"/tmp/switchyard-loadtest\.[^/ ]+/bin/", "", text)
            o.append(text)
    with open(a.out, "w") as f:
        f.write("\n".join(o).rstrip() + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"name": name, "meta": meta, "derived": derived, "soak": soak,
                       "commands": [{"step": c[0], "what": c[1], "command": c[2]} for c in cmds],
                       "steps": steps}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
