"""latest.md: the run in readable form, from the same dict as latest.json."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]


def _goodput(o: dict[str, Any]) -> str:
    """The overload's answers 2xx a second against saturation (runs before it lack it)."""
    if o.get("goodput_per_s") is None:
        return ""
    share = o.get("goodput_share")
    of = f" = {share:.0%} of saturation" if share is not None else ""
    return f"answered 2xx {o['goodput_per_s']:,.0f}/s{of}; "


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _met(value: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[value]


def _reads(reads: dict[str, Any]) -> list[str]:
    lines = [
        "| case | saturation (wrk) | conns / addresses | wrk CPU | rate at 50 % (vegeta) | p50 | "
        "p99 | answers at 50 % | vegeta CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, row in reads.items():
        if "error" in row:
            lines.append(f"| {name} | error: {row['error']} | | | | | | | |")
            continue
        sat, half = row["saturation"], row["at_50_percent"]
        lines.append(
            f"| {name} | {sat['per_second']:,.0f} req/s | {sat['connections']} / "
            f"{sat['source_addresses']} | "
            f"{sat['generator_cpu_cores']} cores | {half['rate']:,.0f}/s "
            f"({half['source_addresses']} processes) | "
            f"{_ms(half['p50_ms'])} ms | {_ms(half['p99_ms'])} ms | {half['statuses']} | "
            f"{half['generator_cpu_cores']} cores |"
        )
    return lines


def _shoppers(rows: dict[str, Any]) -> list[str]:
    lines = [
        "| shoppers | addresses | answers/s (2xx/s) | p50 | p99 | 2 x N / throughput | 5xx | "
        "refused | other "
        "errors | 429 | cache hit ratio | generator CPU |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for count, r in rows.items():
        if not isinstance(r, dict) or "error" in r:
            lines.append(f"| {count} | error: {r} |" + " |" * 10)
            continue
        lines.append(
            f"| {count} | {r['source_addresses']} | {r['per_second']:,.0f} "
            f"({r.get('ok_per_second', '?')}) | {_ms(r['p50_ms'])} "
            f"ms | {_ms(r['p99_ms'])} ms | "
            f"{_ms(r['p99_bound_ms'])} ms | {r['5xx']} | {r['refused_connections']} | "
            f"{r['other_errors'] or 0} | "
            f"{r['statuses'].get('429', 0)} | {r['cache_hit_ratio']} | {r['generator_cpu_cores']} "
            "cores |"
        )
    tails = [
        f"{count}: "
        + ", ".join(
            f"{kind} {v['answers']:,} answers p50 {_ms(v['p50_ms'])} / p99 {_ms(v['p99_ms'])} ms"
            for kind, v in r["by_cache"].items()
        )
        for count, r in rows.items()
        if isinstance(r, dict) and r.get("by_cache")
    ]
    if tails:
        lines += ["", "Latency by the gateway's `X-Cache`: " + "; ".join(tails) + "."]
    return lines


def _browsing(b: dict[str, Any]) -> list[str]:
    if not b:
        return ["not measured"]
    if "error" in b:
        return [f"error: {b['error']}"]
    v = b["visible_after_ms"]
    lines = [
        f"{b['shoppers']} shoppers ({b['source_addresses']} addresses), Zipf s = {b['zipf_s']}, "
        f"{b['warm_up_seconds']:g} s of warm-up then {b['window_seconds']:g} s counted, with "
        f"{b['stock_changes']} stock changes ({b['stock_changes_per_s']:g}/s) at the catalog's "
        f"admin API: **hit ratio {b['cache_hit_ratio']}** at {b['per_second']:,.0f} answers/s "
        f"(p50 {_ms(b['p50_ms'])} ms, p99 {_ms(b['p99_ms'])} ms; {b['statuses']}; errors "
        f"{b['errors'] or 0}; generator {b['generator_cpu_cores']} cores). Each change visible "
        f"on its product page through the gateway after p50 {_ms(v['p50_ms'])} ms, p99 "
        f"{_ms(v['p99_ms'])} ms, max {_ms(v['max_ms'])} ms; {b['unseen']} not seen within "
        f"{b['not_seen_within_s']:g} s.",
        "",
        "| kind | distinct answers | answers | hits | misses | other | hit ratio |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for kind, r in b["by_kind"].items():
        lines.append(
            f"| {kind} | {r['distinct']} | {r['answers']} | {r['hits']} | {r['misses']} | "
            f"{r['other'] or '-'} | {r['hit_ratio']} |"
        )
    return lines


def _checkout(c: dict[str, Any]) -> list[str]:
    if "error" in c:
        return [f"error: {c['error']}"]
    lines = [
        "| phase | orders | confirmed | statuses | accepted p50 / p99 | placed → confirmed p50 / "
        "p99 / max |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    names = {
        "alone": "one order alone (in a row)",
        "sustained": "sustained (closed loop)",
        "at_50_percent": "50 % of sustained",
        "at_80_percent": "80 % of sustained",
    }
    for key, label in names.items():
        r = c.get(key)
        if not r:
            continue
        a, p = r["accepted"], r["placed_to_confirmed"]
        if "rate" in r:
            label += f" ({r['rate']}/s)"
        lines.append(
            f"| {label} | {r['orders']} | {r['confirmed']} | {r['statuses']} | {_ms(a['p50_ms'])} "
            f"/ {_ms(a['p99_ms'])} ms | "
            f"{_ms(p['p50_ms'])} / {_ms(p['p99_ms'])} / {_ms(p['max_ms'])} ms |"
        )
    rejected: dict[str, int] = {}
    for key in names:
        for reason, n in ((c.get(key) or {}).get("rejections") or {}).items():
            rejected[reason] = rejected.get(reason, 0) + n
    if rejected:
        lines += ["", f"Rejected orders by reason: {rejected}"]
    s = c.get("sustained") or {}
    if s:
        lines += [
            "",
            f"Sustained: {s['customers']} customers for {s['load_seconds']} s: "
            f"{s['accepted_per_s']} orders/s "
            f"accepted, **{s['confirmed_per_s']} orders/s confirmed** (the saga's backlog drained "
            f"{s['drain_seconds']} s after the load).",
        ]
    lags = c.get("event_lags") or {}
    if "error" in lags:
        lines += ["", f"Event lags: {lags['error']}"]
    else:
        lines += ["", "| lag | events | p50 | p99 | max |", "| --- | ---: | ---: | ---: | ---: |"]
        for title, key in (
            ("commit → publish (outbox)", "commit_to_publish_ms"),
            ("commit → handled (inbox)", "commit_to_handled_ms"),
        ):
            for name, r in (lags.get(key) or {}).items():
                lines.append(
                    f"| {title}, {name} | {r['events']} | {_ms(r['p50_ms'])} ms | "
                    f"{_ms(r['p99_ms'])} ms | {_ms(r['max_ms'])} ms |"
                )
    peaks = c.get("metrics_peaks") or {}
    if peaks:
        lines += [
            "",
            "Peaks scraped from `/metrics` every 0.5 s during checkout: "
            + "; ".join(f"`{k}` {v:g}" for k, v in sorted(peaks.items()) if v > 0)
            or "all 0",
        ]
    if c.get("failures"):
        lines += ["", f"Failed checkouts: {c['failures']}"]
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        "# Emporium benchmark (`make bench`)",
        "",
        f"Run {results['started_at']} ({results['mode']}), {results['duration_s']:.0f} s, against "
        "`make up` on one machine:"
        " load generators, nginx, the services and the infrastructure all share its cores; "
        "loopback only.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {m['cores']} cores, {m['cpu']} |",
        f"| RAM | {m['ram_mb']:,} MB |",
        f"| kernel / OS | {m['kernel']} / {m['os']} |",
        f"| Python | {m['python']} |",
        f"| PostgreSQL / Kafka / Redis | {m['postgresql']} / {m['kafka']} / {m['redis']} |",
        f"| nginx / wrk / vegeta | {m['nginx']} / {m['wrk']} / {m['vegeta']} |",
        f"| before the run | load average {m['load_average_before']}, {m['busy_cores_before']} "
        "cores busy |",
        *(
            [
                "| CPU time stolen by the host (per scenario) | "
                + ", ".join(f"{name} {share:.0%}" for name, share in m["stolen"].items())
                + " |"
            ]
            if m.get("stolen")
            else []
        ),
        "",
    ]
    if results.get("shared_machine"):
        out += [
            "**The machine was shared** with other work during this run "
            f"({results['shared_machine']}): "
            "the figures are lower than on an idle machine.",
            "",
        ]
    out += ["## Settings", ""] + [f"- {line}" for line in results["settings_notes"]]
    out += ["", "## Targets (issue 12)", "", "| target | figure | |", "| --- | --- | --- |"]
    out += [f"| {t['target']} | {t['figure']} | {_met(t['met'])} |" for t in results["targets"]]
    out += [
        "",
        "## (1) Product and listing GETs, /healthz",
        "",
        "Saturation: wrk, closed loop, keep-alive, each connection from its own loopback address. "
        "Latency: vegeta, "
        "open loop at 50 % of that case's saturation (no coordinated omission), split over "
        "processes with one "
        "`-laddr` each. `product` = `GET /products/{id}` over 20 products; `listing` = `GET "
        "/products?limit=20`; "
        "`gateway token` = a customer's bearer token (tokens of all bench customers in turn; "
        "never cached).",
        "",
    ]
    out += _reads(results.get("reads") or {})
    out += ["", "## (2) Concurrent shoppers", "", str(results.get("shoppers_doc", "")), ""]
    out += _shoppers(results.get("shoppers") or {})
    out += ["", "## Browsing with stock changes (the hit ratio target)", ""]
    doc = results.get("browsing_doc")
    out += [*([str(doc), ""] if doc else []), *_browsing(results.get("browsing") or {})]
    out += ["", "## (3) Checkout", "", *_checkout(results.get("checkout") or {})]
    p = results.get("pipeline") or {}
    out += ["", "## (4) Event pipeline (`bench/event_pipeline.py`)", ""]
    if "error" in p:
        out.append(f"error: {p['error']}")
    else:
        out += [
            f"{p.get('events')} events per configuration; best PostgreSQL + Kafka figures: relay "
            f"**{p.get('relay_per_s')} events/s**, consumer with inbox **{p.get('consume_per_s')} "
            "events/s**.",
            "",
            "| config | relay/s | consume/s |",
            "| --- | ---: | ---: |",
        ]
        out += [
            f"| {r.get('config')} | {r.get('relay_per_s', 0):,.0f} | "
            f"{r.get('consume_per_s', 0):,.0f} |"
            for r in p.get("rows", [])
        ]
        lag = p.get("idle_lag")
        if lag:
            out += [
                "",
                "Idle commit -> publish lag (50 lone events, one at a time, the relay's loop "
                "woken by the commit; to the broker's acknowledgement): "
                f"p50 {_ms(lag.get('p50_ms'))} ms, p99 {_ms(lag.get('p99_ms'))} ms, max "
                f"{_ms(lag.get('max_ms'))} ms.",
            ]
        out += [f"- {note}" for note in p.get("notes", [])]
    f = results.get("freshness") or {}
    out += ["", "## Stock change through the gateway", ""]
    if f and "error" not in f:
        v = f["visible_after_ms"]
        out.append(
            f"{f['trials']} stock changes made at the catalog's admin API while the product page "
            "was cached: "
            f"visible through the gateway after p50 {_ms(v['p50_ms'])} ms, max {_ms(v['max_ms'])} "
            "ms; "
            f"{f['unseen']} not seen within {f['not_seen_within_s']} s."
        )
    else:
        out.append(f"error: {f.get('error')}")
    o = results.get("overload") or {}
    out += ["", "## (5) 120 % of saturation for a minute", ""]
    if "error" in o:
        out.append(f"error: {o['error']}")
    elif o:
        ov = o["overload"]
        out.append(
            f"{o['target']}: saturation {o['saturation_per_s']:,.0f} req/s, so {ov['rate']:,.0f} "
            "req/s for "
            f"{ov['seconds']:.0f} s ({ov['source_addresses']} vegeta processes, "
            f"{ov['generator_cpu_cores']} cores): "
            f"answered {ov['statuses']}, {ov['transport_errors']} transport errors; 429/503 with "
            "problem details: "
            f"{o['shed_429_503_problem_json']}; **error rate {o['error_rate']:.2%}**; "
            f"{_goodput(o)}p50 "
            f"{_ms(ov['p50_ms'])} ms, "
            f"p99 {_ms(ov['p99_ms'])} ms. A probe at 10 % alongside had p99 "
            f"{o['probe_p99_before_ms']} ms before; "
            f"**recovery {o['recovery_seconds']} s** after the overload ended."
        )
    out += [
        "",
        "## (6) Peak RSS of every process",
        "",
        "Sampled from `/proc/<pid>/status` every 0.5 s for the whole run "
        f"({results.get('rss_samples')} samples).",
        "",
        "| process | command | pid | peak RSS |",
        "| --- | --- | ---: | ---: |",
    ]
    out += [
        f"| {r['process']} | {r['command']} | {r['pid']} | {r['peak_rss_mb']} MB |"
        for r in results.get("rss") or []
    ]
    errors = results.get("errors") or {}
    if errors:
        out += ["", "## Errors", ""] + [f"- {k}: {v}" for k, v in errors.items()]
    return "\n".join(out) + "\n"
