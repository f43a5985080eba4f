#!/usr/bin/env python3
"""Renders BENCHMARKS.md from what scripts/bench measured in one run.

  report.py RESULTS_DIR [OLD_BENCHMARKS.md] > BENCHMARKS.md

The section scripts/load writes (between its begin and end comments) is taken over from
OLD_BENCHMARKS.md as it is: this run did not measure it.

RESULTS_DIR holds, as scripts/bench writes them:
  info.tsv         KEY<TAB>VALUE: the machine, versions, and facts of the run (bulk=yes...)
  notes.txt        one line per thing a reader must know (skips, failed checks)
  hf-KEY.json      hyperfine --export-json; each command named with -n
  mem-KEY-NAME.txt peak resident set size in KiB, one run per line (/usr/bin/time -f %M)
  wrk-KEY-ROUND.txt  wrk --latency output, one file per 10 s round
Measuring stays in the script; this only reads, computes medians and ratios, and checks
each target.
"""
import json
import os
import re
import statistics
import sys

RES = sys.argv[1]


def path(name):
    return os.path.join(RES, name)


def info():
    out = {}
    if os.path.exists(path("info.tsv")):
        for line in open(path("info.tsv")):
            k, _, v = line.rstrip("\n").partition("\t")
            out[k] = v
    return out


INFO = info()


def hf(key, name):
    """(median, min, max) in ms of the command named `name` in hf-KEY.json, with the runs
    of hf-KEY-rev.json (the same set in the opposite order) where there is one, or None."""
    times = []
    for k in (key, f"{key}-rev"):
        try:
            data = json.load(open(path(f"hf-{k}.json")))
        except (OSError, ValueError):
            continue
        for r in data["results"]:
            if r["command"] == name:
                times += r["times"]
    if not times:
        return None
    return (statistics.median(times) * 1e3, min(times) * 1e3, max(times) * 1e3)


def mem(key, name):
    """Median peak RSS in MiB, or None."""
    try:
        vals = [int(x) for x in open(path(f"mem-{key}-{name}.txt")).read().split()]
    except (OSError, ValueError):
        return None
    return statistics.median(vals) / 1024 if vals else None


def wrk(key):
    """Per-round (req/s, p50 ms, non-2xx/3xx count, socket errors) of wrk-KEY-*.txt."""
    rounds = []
    i = 1
    while os.path.exists(path(f"wrk-{key}-{i}.txt")):
        text = open(path(f"wrk-{key}-{i}.txt")).read()
        i += 1
        m = re.search(r"Requests/sec:\s+([\d.]+)", text)
        if not m:
            continue
        p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", text)
        lat = None
        if p50:
            lat = float(p50.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p50.group(2)]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                         text)
        rounds.append((float(m.group(1)), lat, int(bad.group(1)) if bad else 0,
                       sock.group(0) if sock else ""))
    return rounds


def ms(v):
    if v is None:
        return "n/a"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def num(v, unit=""):
    return "n/a" if v is None else f"{v:,.0f}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rtxt(r):
    return "n/a" if r is None else f"{r:.2f}×"


def verdict(ok, what):
    if ok is None:
        return "not measured"
    return f"**met** ({what})" if ok else f"**missed** ({what})"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def section_startup():
    rows = []
    verdicts = []
    cases = [
        ("real-help", "`igor --help`", f"real ({INFO.get('real_commands', '?')} commands)"),
        ("real-cmd", "`igor power-status --help`", "real"),
        ("synth-help", "`igor --help`", f"synthetic ({INFO.get('synth_commands', '?')} "
                                         f"commands × {INFO.get('synth_args', '?')} args, "
                                         f"{INFO.get('synth_size', '?')})"),
        ("synth-cmd", "`igor power-status --help`", "synthetic"),
    ]
    for key, what, schema in cases:
        igor, clap = hf(f"startup-{key}", "igor"), hf(f"startup-{key}", "clap")
        r = ratio(igor and igor[0], clap and clap[0])
        ok = None if r is None else r <= 1.5
        verdicts.append(ok)
        for prog, t, rr, v in (("igor", igor, r, verdict(ok, "≤ 1.5×")),
                               ("clap", clap, 1.0 if clap else None, "")):
            first = prog == "igor"
            peak = mem(f"startup-{key}", prog)
            rows.append([what if first else "", schema if first else "",
                         "igor" if first else "static clap", ms(t and t[0]), ms(t and t[1]),
                         ms(t and t[2]), rtxt(rr),
                         "n/a" if peak is None else f"{peak:.1f} MiB", v])
    out = ["## 1. Client start-up with a warm cache", "",
           "Target: within 1.5× of a plain clap binary that defines the same commands "
           "statically (`bench.d/gen_clap.py` generates it from the same schema document). "
           f"hyperfine, {INFO.get('runs_startup', '?')} runs after "
           f"{INFO.get('warmup_startup', '?')} warm-up runs, no shell; the cache is fresh, so "
           "igor makes no request. Peak RSS: median of "
           f"{INFO.get('runs_mem', '?')} runs of `/usr/bin/time -f %M`. Ratio: median over "
           "the static binary's median.", "",
           table(["command", "schema", "program", "median", "min", "max", "ratio",
                  "peak RSS", "target"], rows), ""]
    http, https = hf("startup-https-help", "igor"), hf("startup-https-help", "igor-https")
    r = ratio(https and https[0], http and http[0])
    ok = None if r is None else r <= 1.1
    verdicts.append(ok)
    rows2 = []
    for label, t, name, rr, v in (
            ("`igor --help`, http server (`IGOR_SERVER`)", http, "igor",
             1.0 if http else None, ""),
            ("`igor --context tls --help`, https context with a pinned certificate", https,
             "igor-https", r, verdict(ok, "≤ 1.1×: no certificate store read at start-up"))):
        peak = mem("startup-https-help", name)
        rows2.append([label, ms(t and t[0]), ms(t and t[1]), ms(t and t[2]), rtxt(rr),
                      "n/a" if peak is None else f"{peak:.1f} MiB", v])
    out += ["Against https: the same start with the context of an https igord (its "
            "self-signed certificate pinned with `--trust-fingerprint`, a login, a warm "
            "cache). igor reads the system certificate store on its first https connection "
            "only; a start that makes no request must cost what the http one does. Same "
            "hyperfine settings; ratio over the http row.", "",
            table(["command", "median", "min", "max", "ratio vs http", "peak RSS", "target"],
                  rows2), ""]
    return out, verdicts


def section_call():
    rows = []
    verdicts = []
    for key, bmc in (("call-vm", f"`lan-vm.conf` BMC ({INFO.get('bmc_vm', '?')}): power "
                                 "state = a child process is alive, no fork per query"),
                     ("call-helper", f"`lan.conf` + `chassiscontrol` helper "
                                     f"({INFO.get('bmc_helper', '?')}): ipmi_sim forks the "
                                     "shell script on every status query")):
        igor, v1 = hf(key, "igor"), hf(key, "igor-v1")
        it, fi = hf(key, "ipmitool"), hf(key, "ipmi-power")
        r = ratio(igor and igor[0], it and it[0])
        ok = None if r is None else r <= 0.5
        verdicts.append(ok)
        r_fi = ratio(igor and igor[0], fi and fi[0])
        ok_fi = None if r_fi is None else r_fi <= 1.0
        verdicts.append(ok_fi)
        first = True
        default = INFO.get("call_default") or "default version"
        for prog, t, label, v in (
                (f"`igor power-status` (→ {default})", igor, "igor",
                 verdict(ok, "≤ 0.5× ipmitool") + "; " + verdict(ok_fi, "≤ 1× ipmi-power")),
                ("`igor power-status/1`", v1, "igor-v1", ""),
                ("`ipmitool -I lanplus -C 3 power status`", it, "ipmitool", ""),
                ("`ipmi-power --stat`", fi, "ipmi-power", "")):
            rows.append([bmc if first else "", prog, ms(t and t[0]), ms(t and t[1]),
                         ms(t and t[2]), rtxt(ratio(t and t[0], it and it[0])),
                         rtxt(ratio(t and t[0], fi and fi[0])), v])
            first = False
    out = ["## 2. One call end to end", "",
           "Targets: `igor power-status` (client start, HTTP, igord, its kept RMCP+ session, "
           "the audit record) at most half of a fresh `ipmitool -I lanplus` process, and no "
           "slower than FreeIPMI's `ipmi-power --stat`, which speaks to the BMC directly. "
           f"hyperfine, {INFO.get('runs_call', '?')} runs each after "
           f"{INFO.get('warmup_call', '?')} warm-up runs (which also open igord's session), "
           "side by side against the same BMC, in two sets of half the runs each, the "
           "second in the opposite order (hyperfine times a command's runs in a row, and "
           "the first of a set came out slower than it is). ipmitool gets the password through "
           "`IPMI_PASSWORD` (`-E`), ipmi-power through `--config-file` (driver LAN_2_0, "
           "workaround `opensesspriv`). Ratios: over ipmitool's and ipmi-power's medians.", "",
           table(["BMC", "command", "median", "min", "max", "ratio vs ipmitool",
                  "ratio vs ipmi-power", "target"],
                 rows), ""]
    # What a call costs beyond the client's own start: the floor ipmi-power is held to.
    start, clap = hf("startup-real-cmd", "igor"), hf("startup-real-cmd", "clap")
    one, fi = hf("call-vm", "igor-v1"), hf("call-vm", "ipmi-power")
    if start and one and fi:
        out += [f"The floor: igor's start with no request (`igor power-status --help`, section 1) "
                f"takes {ms(start[0])}, {rtxt(ratio(start[0], fi[0]))} of ipmi-power's whole "
                f"call; a static clap binary's start takes {ms(clap[0]) if clap else 'n/a'}. "
                f"The request itself (HTTP, igord, the BMC, the audit record) is the rest, "
                f"about {ms(max(one[0] - start[0], 0))} for `power-status/1` on the `lan-vm` "
                "BMC. A busy minute of the machine still lands on one row more than on "
                "another: compare min as well as median.", ""]
    return out, verdicts


def section_fanout():
    out = ["## 3. Fan-out", "",
           "Target: `igor power-status/2 'node[1-N]'` (one request, the server fans out "
           f"under its global cap of {INFO.get('bmc_max_concurrent', '?')} and streams one "
           "result per machine) at most a quarter of FreeIPMI's own fan-out, `ipmi-power -h "
           f"'127.1.0.[1-250]:{INFO.get('bmc_port', '?')},...' --stat` (its default fanout, "
           "64), at every N, on both backends. BMCs: `lan-vm.conf`, node I on "
           "127.1.((I-1)/250).((I-1)%250+1). hyperfine, "
           f"{INFO.get('runs_fanout', '?')} runs after one warm-up run (igord's sessions are "
           "then open: the steady state of a server that polls its fleet). igord writes one "
           "audit record per machine, so the database is part of the figure: both backends "
           "are shown.", ""]
    if INFO.get("bulk") != "yes":
        out += [table(["N", "result"], [[n, "bulk commands not available in this build"]
                                        for n in INFO.get("fanout_ns", "20 100 200").split()]),
                ""]
        return out, [None]
    rows = []
    verdicts = []
    for n in INFO.get("fanout_ns", "").split():
        if not os.path.exists(path(f"hf-fanout-{n}.json")):
            rows.append([n, "skipped (see the notes)", "", "", "", "", "not measured"])
            verdicts.append(None)
            continue
        fi = hf(f"fanout-{n}", "ipmi-power")
        first = True
        for name, label in (("igor", "`igor power-status/2`, igord on SQLite"),
                            ("igor-pg", "`igor power-status/2`, igord on PostgreSQL")):
            t = hf(f"fanout-{n}", name)
            if t is None and name == "igor-pg":
                continue
            r = ratio(t and t[0], fi and fi[0])
            ok = None if r is None else r <= 0.25
            verdicts.append(ok)
            rows.append([n if first else "", label, ms(t and t[0]), ms(t and t[1]),
                         ms(t and t[2]), rtxt(r), verdict(ok, "≤ 0.25×")])
            first = False
        rows.append(["", "`ipmi-power --stat`", ms(fi and fi[0]), ms(fi and fi[1]),
                     ms(fi and fi[2]), rtxt(1.0 if fi else None), ""])
    out += [table(["N", "command", "median", "min", "max", "ratio vs ipmi-power", "target"],
                  rows), ""]
    # The floor: one machine through the same path (section 2's power-status/1 on a
    # lan-vm BMC), and igor's start with no request at all (section 1).
    one = hf("call-vm", "igor-v1")
    start = hf("startup-real-cmd", "igor")
    fi20 = hf("fanout-20", "ipmi-power")
    if one and fi20:
        out += [f"The floor of any igor call: one machine end to end takes {ms(one[0])} "
                f"(section 2, `igor power-status/1`), {rtxt(ratio(one[0], fi20[0]))} of "
                f"ipmi-power's fan-out over 20" +
                (f", of which the client's start with no request is {ms(start[0])} "
                 "(section 1)" if start else "") +
                ". Where a row misses, compare it with that floor.", ""]
    # Threads and memory: igord's, read from /proc after each fan-out and after idling.
    proc_rows = []
    for key, label in ([("before", "before the fan-outs (sections 1–2 done)")] +
                       [(f"fanout-{n}", f"after the fan-out over {n}")
                        for n in INFO.get("fanout_ns", "").split()] +
                       [("idle", f"after {INFO.get('idle_wait', '?')} s idle")]):
        row = [label]
        for backend in ("sqlite", "pg"):
            v = INFO.get(f"proc-{key}-{backend}", "").split()
            if len(v) == 3:
                row += [v[0], f"{int(v[1]) / 1024:.1f} MiB", f"{int(v[2]) / 1024:.1f} MiB"]
            else:
                row += ["n/a", "n/a", "n/a"]
        proc_rows.append(row)
    threads = [int(INFO[k].split()[0]) for k in INFO
               if k.startswith("proc-fanout-") and INFO[k].split()]
    before = [int(INFO[k].split()[0]) for k in INFO if k.startswith("proc-before-")]
    ok = None
    if threads and before:
        # Bounded: the largest fan-out leaves no more threads than a few above the start.
        ok = max(threads) <= max(before) + 4
    verdicts.append(ok)
    out += ["igord's threads and memory (`/proc/PID/status`: Threads, VmRSS, and VmHWM, the "
            "peak since it started). Target: the thread count does not grow with N (at most "
            f"4 above its count before the fan-outs): {verdict(ok, 'bounded threads')}.", "",
            table(["when", "threads (SQLite)", "RSS (SQLite)", "peak RSS (SQLite)",
                   "threads (PostgreSQL)", "RSS (PostgreSQL)", "peak RSS (PostgreSQL)"],
                  proc_rows), ""]
    return out, verdicts


def wrk_row(label, backend, key, hello_med, with_target=True):
    rounds = wrk(key)
    if not rounds:
        return [label, backend, "n/a", "n/a", "n/a", "n/a", "n/a", "not measured"], None
    rps = [r[0] for r in rounds]
    med = statistics.median(rps)
    lat = statistics.median([r[1] for r in rounds if r[1] is not None] or [0])
    bad = sum(r[2] for r in rounds)
    sock = "; ".join(r[3] for r in rounds if r[3])
    r = ratio(med, hello_med)
    ok = None if (r is None or not with_target) else (r >= 0.5 and bad == 0)
    v = verdict(ok, "≥ 0.5×") if with_target else ""
    if bad:
        v += f" ({bad} responses not 2xx/3xx!)"
    if sock:
        v += f" (wrk: {sock})"
    return [label, backend, num(med), num(min(rps)), num(max(rps)), f"{lat:.2f} ms",
            rtxt(r), v], ok


def section_throughput():
    hello = wrk("hello")
    hello_med = statistics.median([r[0] for r in hello]) if hello else None
    rows = [wrk_row("actix-web hello-world `GET /`", "none", "hello", hello_med, False)[0]]
    verdicts = []
    for backend, tag in (("SQLite", "sqlite"), ("PostgreSQL", "pg")):
        if INFO.get(f"{tag}_server") != "yes":
            rows.append(["`GET /api/ping`, `machine-show`", backend, "skipped", "", "", "", "",
                         INFO.get(f"{tag}_skip", "not measured")])
            continue
        for label, key in (("`GET /api/ping`", f"{tag}-ping"),
                           ("`POST /api/rpc` machine-show (token and machine lookups from memory)",
                            f"{tag}-rpc")):
            row, ok = wrk_row(label, backend, key, hello_med)
            rows.append(row)
            verdicts.append(ok)
    hello_tls = wrk("hello-tls")
    hello_tls_med = statistics.median([r[0] for r in hello_tls]) if hello_tls else None
    rows.append(wrk_row("actix-web hello-world `GET /` over TLS", "none", "hello-tls",
                        hello_tls_med, False)[0])
    if INFO.get("tls_server") == "yes":
        row, ok = wrk_row("`POST /api/rpc` machine-show over TLS", "SQLite", "tls-rpc",
                          hello_tls_med)
        rows.append(row)
        verdicts.append(ok)
    out = ["## 4. Server throughput", "",
           "Target: authenticated `machine-show` and `ping` at least half of the hello-world "
           "ceiling of actix-web (same version and features, built in the same run). "
           f"wrk, {INFO.get('wrk_threads', '?')} threads, {INFO.get('wrk_conns', '?')} "
           f"connections, {INFO.get('wrk_secs', '?')} s per round, "
           f"{INFO.get('wrk_rounds', '?')} rounds interleaved across all rows (median, min "
           "and max are over rounds; p50 is wrk's median latency). wrk runs on the same "
           "2 cores as the server, for every row alike. The TLS rows (rustls on ring, TLS 1.3, "
           "igord's generated self-signed certificate also served by the hello-world) are "
           "over wrk's kept-alive connections, so they show the cost of encryption, not of "
           "handshakes; their ratio is over the hello-world over TLS.", "",
           table(["request", "database", "req/s median", "min", "max", "p50 latency",
                  "ratio vs hello", "target"], rows), ""]
    return out, verdicts


def section_schema():
    hello = wrk("hello")
    hello_med = statistics.median([r[0] for r in hello]) if hello else None
    rows = []
    for backend, tag in (("SQLite", "sqlite"), ("PostgreSQL", "pg")):
        if INFO.get(f"{tag}_server") == "yes":
            row, _ = wrk_row("`GET /api/schema` + matching `If-None-Match` → 304", backend,
                             f"{tag}-304", hello_med, False)
            rows.append(row)
    fresh, expired = hf("revalidate", "fresh"), hf("revalidate", "expired")
    r = ratio(expired and expired[0], fresh and fresh[0])
    rows2 = [["`igor power-status --help`, fresh cache (no request)", ms(fresh and fresh[0]),
              ms(fresh and fresh[1]), ms(fresh and fresh[2]), "1.00×" if fresh else "n/a"],
             ["`igor power-status --help`, TTL expired (conditional GET → 304, cache renewed)",
              ms(expired and expired[0]), ms(expired and expired[1]),
              ms(expired and expired[2]), rtxt(r)]]
    out = ["## 5. The schema's 304 path", "",
           "The server side under wrk (as in 4; the body is empty, the work is comparing the "
           "ETag), and the client side: one start whose cache TTL has expired, so igor "
           "revalidates with `If-None-Match` before answering, against a start with a fresh "
           f"cache (hyperfine, {INFO.get('runs_startup', '?')} runs; a prepare step sets "
           "`fetched_at` in the cache's meta.json to 0 before each expired run).", "",
           table(["request", "database", "req/s median", "min", "max", "p50 latency",
                  "ratio vs hello", ""], rows), "",
           table(["client start", "median", "min", "max", "ratio vs fresh"], rows2), ""]
    return out, []


def section_console():
    rows = []
    got = {}
    for tool, label in (("igor", "`igor console console1` (igor → igord → SOL)"),
                        ("ipmitool", "`ipmitool -I lanplus -C 3 sol activate` (its own SOL session)")):
        try:
            d = json.load(open(path(f"console-{tool}.json")))
        except (OSError, ValueError):
            continue
        lat = sorted(d["latencies"])
        med = statistics.median(lat) * 1e3
        p90 = lat[int(len(lat) * 0.9) - 1] * 1e3
        rate = d["bulk_bytes"] / d["bulk_secs"] / (1 << 20)
        got[tool] = (med, rate)
        rows.append([label, ms(med), ms(p90), ms(lat[-1] * 1e3), f"{rate:.2f} MiB/s"])
    if "igor" in got and "ipmitool" in got:
        rows.append(["igor / ipmitool", rtxt(ratio(got["igor"][0], got["ipmitool"][0])), "", "",
                     rtxt(ratio(got["igor"][1], got["ipmitool"][1]))])
    out = ["## 6. Serial console", "",
           f"Keystroke-to-echo latency: {INFO.get('console_keys', '?')} keystrokes typed one "
           "at a time on a pseudo-terminal, each after the echo of the one before came back "
           "from the host (a TCP server playing the machine's serial port, which ipmi_sim's "
           "SOL connects to, echoing as a terminal does). Bulk: the host prints "
           f"{INFO.get('console_bulk', '?')} bytes of lines at once; timed from the request "
           "to the last line on the client's terminal. One BMC (`lan.conf`), one client at a "
           "time. No target was set: these are the figures.", "",
           table(["client", "median", "p90", "max", "bulk output"], rows) if rows
           else "not measured", ""]
    return out, []


def section_redfish():
    rows = []
    call = {n: hf("redfish-call", n) for n in ("igor", "curl", "redfishtool")}
    fan = {n: hf("redfish-fanout", n) for n in ("igor", "curl-parallel")}
    for name, label in (("igor", "`igor power-status rf1` (igord's kept connection)"),
                        ("curl", "`curl` of the system (fresh TLS connection, Basic auth)"),
                        ("redfishtool", "`redfishtool Systems -I ID get` (walks from the service root)")):
        t = call[name]
        rows.append(["one call", label, ms(t and t[0]), ms(t and t[1]), ms(t and t[2]),
                     rtxt(ratio(t and t[0], call["curl"] and call["curl"][0]))])
    n = INFO.get("redfish_systems", "?")
    for name, label in (("igor", f"`igor power-status 'rf[1-{n}]'` (one bulk call)"),
                        ("curl-parallel", f"{n} `curl`s at once (`xargs -P {n}`)")):
        t = fan[name]
        rows.append([f"fan-out over {n}", label, ms(t and t[0]), ms(t and t[1]), ms(t and t[2]),
                     rtxt(ratio(t and t[0], fan["curl-parallel"] and fan["curl-parallel"][0]))])
    out = ["## 7. Redfish", "",
           f"sushy-tools' emulator {INFO.get('sushy', '?')} (`--fake`, {n} ComputerSystems, "
           "HTTPS with a self-signed certificate, Basic auth from an htpasswd file at bcrypt "
           "cost 4, checked on every request), one single-threaded process on loopback: its "
           "own time per request is most of every row. igor's rows go through igord, which pinned the certificate "
           "at machine-add and keeps one connection per machine. curl reads the same "
           "`PowerState` with a fresh connection, trusting the certificate (`--cacert`) and "
           f"its credentials from a netrc; redfishtool {INFO.get('redfishtool', '?')} does "
           "what a generic client does (service root, Systems, the member). hyperfine, "
           f"{INFO.get('runs_call', '?')} runs (fan-out: {INFO.get('runs_fanout', '?')}). "
           "No target was set: these are the figures. Ratio: over curl.", "",
           table(["", "command", "median", "min", "max", "ratio vs curl"], rows), ""]
    return out, []


def main():
    lines = ["# Benchmarks", "",
             "Generated by `scripts/bench` (do not edit by hand: re-run it). Everything below "
             "was measured side by side in one run on the machine described here, against "
             "OpenIPMI `ipmi_sim` BMCs on loopback addresses (configured by "
             "`tests/bmc-sim/`). Times are wall-clock.", ""]
    m = [["date", INFO.get("date", "?")], ["igor", INFO.get("commit", "?")],
         ["CPU", f"{INFO.get('cpu', '?')} ({INFO.get('nproc', '?')} cores online)"],
         ["RAM", INFO.get("ram", "?")], ["kernel", INFO.get("kernel", "?")],
         ["OS", INFO.get("os", "?")], ["rustc", INFO.get("rustc", "?")],
         ["ipmitool", INFO.get("ipmitool", "?")], ["FreeIPMI", INFO.get("freeipmi", "?")],
         ["OpenIPMI (ipmi_sim)", INFO.get("openipmi", "?")],
         ["PostgreSQL", INFO.get("postgres", "?")],
         ["clap / actix-web (Cargo.lock, shared by igor and the references)",
          f"{INFO.get('clap', '?')} / {INFO.get('actix', '?')}"],
         ["hyperfine / wrk", f"{INFO.get('hyperfine', '?')} / {INFO.get('wrk', '?')}"],
         ["fleet", f"{INFO.get('first_fleet', '?')} `ipmi_sim` BMCs (`lan-vm.conf`) from "
                   f"{INFO.get('bmc_vm', '?')} on, 250 per /24 (up to "
                   f"{INFO.get('fleet', '?')}, started for the largest fan-out and stopped "
                   "after it), plus one "
                   f"with the `chassiscontrol` helper on {INFO.get('bmc_helper', '?')}"],
         ["igord", f"release build; SQLite in a temporary folder; PostgreSQL: "
                   f"{INFO.get('pg_where', 'not used')}; BMC cap "
                   f"{INFO.get('bmc_max_concurrent', '?')}, deadline "
                   f"{INFO.get('bmc_deadline_ms', '?')} ms"]]
    lines += ["## Machine", "", table(["", ""], m), ""]
    summary = []
    for name, fn in (("1. start-up ≤ 1.5× static clap; https ≤ 1.1× http", section_startup),
                     ("2. one call ≤ 0.5× ipmitool and ≤ 1× ipmi-power", section_call),
                     ("3. fan-out ≤ 0.25× ipmi-power at every N on both backends; "
                      "threads bounded", section_fanout),
                     ("4. throughput ≥ 0.5× hello-world (and over TLS)", section_throughput),
                     ("5. schema 304 path", section_schema),
                     ("6. serial console", section_console),
                     ("7. Redfish", section_redfish)):
        body, verdicts = fn()
        lines += body
        if name.startswith(("5", "6", "7")):
            continue
        if all(v is None for v in verdicts):
            state = "not measured"
        elif any(v is False for v in verdicts):
            state = "**missed**"
        elif any(v is None for v in verdicts):
            state = "met where measured"
        else:
            state = "met"
        summary.append([name, state])
    notes = []
    if os.path.exists(path("notes.txt")):
        notes = [l.rstrip("\n") for l in open(path("notes.txt")) if l.strip()]
    head = lines[:lines.index("## Machine")]
    rest = lines[lines.index("## Machine"):]
    out = head + ["## Targets", "", table(["target", "this run"], summary), ""] + rest
    if notes:
        out += ["## Notes from this run", ""] + [f"- {n}" for n in notes] + [""]
    out += ["## Reproduce", "",
            "`scripts/bench` (about 12 minutes on 2 cores, plus the release build). It installs "
            "the Debian packages it needs, builds into `target/bench` (`IGOR_BENCH_TARGET_DIR` "
            "overrides), starts and stops everything itself, and rewrites this file "
            "(`IGOR_BENCH_OUT` writes elsewhere). PostgreSQL comes from `IGOR_BENCH_PG_URL` "
            "(default `postgres://postgres@127.0.0.1:5432/postgres`; a throwaway database is "
            "created there and dropped)."]
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        kept = re.search(r"<!-- scripts/load: begin.*?<!-- scripts/load: end -->",
                         open(sys.argv[2]).read(), re.S)
        if kept:
            i = out.index("## Reproduce")
            out[i:i] = [kept.group(0), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
