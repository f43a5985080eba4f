#!/usr/bin/env python3
"""Abuse-resistance load for scripts/load (never part of the tests). Python 3 stdlib only.

  load.py flood  --url URL --pid PID --token-env VAR --sources SPEC --out FILE.json [...]
  load.py slow   --url URL --pid PID --token-env VAR --sources SPEC --out FILE.json [...]
  load.py report RESULTS_DIR > section.md

flood (F2): CLIENTS concurrent clients send wrong-password logins (keep-alive, reconnecting
when igord closes) for SECS seconds from the loopback addresses of SPEC, while a separate
process (the "other user", from --probe-source) makes authenticated `ping` calls at a steady
rate with a valid token. slow (F4): CONNS connections send a request head and then one body
byte every 2 s, while the same kind of probe runs. Both sample igord's /proc entry (peak RSS
after resetting it through clear_refs, RSS, descriptors, threads) and write one JSON file.

Every loop is bounded by a deadline; every address used is in 127.0.0.0/8.
"""
import argparse
import asyncio
import collections
import ipaddress
import json
import multiprocessing as mp
import os
import socket
import ssl
import statistics
import sys
import time
import urllib.parse

IO_TIMEOUT = 15.0  # no single read or connect waits longer than this


def parse_sources(spec):
    """'127.0.3.1-127.0.4.200' or '127.0.6.1' or a comma list of those -> addresses."""
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        a = ipaddress.IPv4Address(lo)
        b = ipaddress.IPv4Address(hi or lo)
        if not (a in ipaddress.IPv4Network("127.0.0.0/8") and b in ipaddress.IPv4Network("127.0.0.0/8")):
            sys.exit(f"load.py: {part} is not in 127.0.0.0/8")
        out += [str(ipaddress.IPv4Address(i)) for i in range(int(a), int(b) + 1)
                if int(ipaddress.IPv4Address(i)) & 0xFF not in (0, 255)]
    return out


class Target:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.tls = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.tls else 80)
        if not ipaddress.IPv4Address(self.host) in ipaddress.IPv4Network("127.0.0.0/8"):
            sys.exit(f"load.py: {url} is not on 127.0.0.0/8")
        self.ctx = None
        if self.tls:
            # The server's self-signed certificate is not what is measured: no verification.
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE

    async def open(self, src):
        return await asyncio.wait_for(asyncio.open_connection(
            self.host, self.port, ssl=self.ctx, local_addr=(src, 0),
            server_hostname="" if self.tls else None), IO_TIMEOUT)


async def read_response(reader):
    """(status, close) of one HTTP/1.1 response; its body is read and dropped."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k, v = k.strip().lower(), v.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "connection" and v == "close":
            close = True
    if length:
        await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT)
    return status, close


def close_writer(w):
    try:
        w.close()
    except Exception:  # noqa: BLE001 - a broken connection is closed anyway
        pass


# --- igord's /proc entry --------------------------------------------------------------------
def proc_status(pid):
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "Threads"):
                out[k] = int(v.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux clear_refs 5), so each phase has its own peak."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


async def sampler(pid, deadline, samples):
    while time.monotonic() < deadline:
        samples.append(proc_status(pid))
        await asyncio.sleep(0.25)


# --- the other user: a steady rate of authenticated calls in its own process ----------------
def probe(url, token, src, rate, secs, q):
    import http.client
    t = Target(url)
    interval = 1.0 / rate
    lat, codes = [], collections.Counter()

    def connect():
        if t.tls:
            return http.client.HTTPSConnection(t.host, t.port, timeout=10, context=t.ctx,
                                               source_address=(src, 0))
        return http.client.HTTPConnection(t.host, t.port, timeout=10, source_address=(src, 0))

    body = b'{"command":"ping"}'
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = connect()
    end = time.monotonic() + secs
    nxt = time.monotonic()
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            conn.request("POST", "/api/rpc", body, headers)
            r = conn.getresponse()
            r.read()
            codes[str(r.status)] += 1
            if r.status == 200:
                lat.append((time.monotonic() - t0) * 1e3)
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = connect()
        except Exception as e:  # noqa: BLE001 - every failure is counted, then retried
            codes["error:" + type(e).__name__] += 1
            conn.close()
            conn = connect()
        # Open loop: the next call is due at its slot; a late call does not bunch the next.
        nxt = max(nxt + interval, time.monotonic())
        time.sleep(max(0.0, nxt - time.monotonic()))
    conn.close()
    q.put({"lat_ms": lat, "codes": dict(codes)})


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def summary(probe_res, secs):
    lat = probe_res["lat_ms"]
    calls = sum(probe_res["codes"].values())
    ok = probe_res["codes"].get("200", 0)
    return {"calls": calls, "ok": ok, "success": ok / calls if calls else None,
            "per_sec": calls / secs, "codes": probe_res["codes"],
            "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
            "max": max(lat) if lat else None}


def run_probe(args, secs):
    q = mp.Queue()
    p = mp.Process(target=probe, args=(args.url, os.environ[args.token_env], args.probe_source,
                                       args.probe_rate, secs, q))
    p.start()
    return p, q


def finish_probe(p, q, secs):
    res = q.get(timeout=secs + 60)
    p.join(10)
    return summary(res, secs)


# --- F2: the login flood --------------------------------------------------------------------
async def flooder(t, i, src, deadline, counts):
    conn = None
    n = 0
    while time.monotonic() < deadline:
        try:
            if conn is None:
                conn = await t.open(src)
            n += 1
            # Half at the admin, half spraying names that do not exist (hashed all the same).
            user = "admin" if n % 2 else f"ghost{i}x{n % 7}"
            body = json.dumps({"user": user, "password": f"wrong-{i}-{n}"}).encode()
            conn[1].write(b"POST /api/login HTTP/1.1\r\nHost: igord\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            status, close = await read_response(conn[0])
            counts[str(status)] += 1
            if close:
                close_writer(conn[1])
                conn = None
        except Exception as e:  # noqa: BLE001 - counted apart from the statuses
            counts["conn:" + type(e).__name__] += 1
            if conn is not None:
                close_writer(conn[1])
            conn = None
            await asyncio.sleep(0.05)
    if conn is not None:
        close_writer(conn[1])


async def flood_main(args, t, sources):
    counts = collections.Counter()
    samples = []
    start = time.monotonic()
    deadline = start + args.secs
    tasks = [asyncio.ensure_future(flooder(t, i, sources[i % len(sources)], deadline, counts))
             for i in range(args.clients)]
    samp = asyncio.ensure_future(sampler(args.pid, deadline, samples))
    # A flooder stuck in a read ends with its IO_TIMEOUT; nothing outlives this wait.
    await asyncio.wait(tasks + [samp], timeout=args.secs + IO_TIMEOUT + 5)
    for x in tasks:
        x.cancel()
    return counts, samples, time.monotonic() - start


# --- F4: slow bodies ------------------------------------------------------------------------
async def slow_conn(t, src, start_at, deadline, res):
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    try:
        r, w = await t.open(src)
    except Exception as e:  # noqa: BLE001
        res["outcome"]["connect:" + type(e).__name__] += 1
        return
    body_len = 64
    try:
        w.write(b"POST /api/login HTTP/1.1\r\nHost: igord\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % body_len)
        await w.drain()
    except Exception as e:  # noqa: BLE001
        res["outcome"]["head:" + type(e).__name__] += 1
        close_writer(w)
        return
    sent_at = time.monotonic()
    reading = asyncio.ensure_future(read_response(r))
    sent = 0
    while not reading.done() and time.monotonic() < deadline and sent < body_len - 1:
        await asyncio.wait({reading}, timeout=2.0)
        if reading.done():
            break
        try:
            w.write(b" ")
            await w.drain()
            sent += 1
        except Exception:  # noqa: BLE001 - the server cut us: the read says how
            await asyncio.wait({reading}, timeout=1.0)
            break
    took = time.monotonic() - sent_at
    if reading.done():
        try:
            status, _ = reading.result()
            key = str(status)
        except asyncio.IncompleteReadError:
            key = "closed without an answer"
        except Exception as e:  # noqa: BLE001
            key = "closed: " + type(e).__name__
    else:
        reading.cancel()
        key = "still open at the end"
    res["outcome"][key] += 1
    res["cut_s"].setdefault(key, []).append(took)
    close_writer(w)


async def slow_main(args, t, sources):
    res = {"outcome": collections.Counter(), "cut_s": {}}
    samples = []
    start = time.monotonic()
    deadline = start + args.secs
    tasks = [asyncio.ensure_future(slow_conn(t, sources[i % len(sources)],
                                             start + args.ramp * i / args.conns, deadline, res))
             for i in range(args.conns)]
    samp = asyncio.ensure_future(sampler(args.pid, deadline + 3, samples))
    await asyncio.wait(tasks, timeout=args.secs + IO_TIMEOUT + 5)
    for x in tasks:
        x.cancel()
    await samp
    return res, samples, time.monotonic() - start


def peaks(samples):
    def mx(k):
        vals = [s[k] for s in samples if k in s]
        return max(vals) if vals else None
    return {"fds_max": mx("fds"), "threads_max": mx("Threads"), "rss_max_kib": mx("VmRSS")}


def cmd_phase(args):
    t = Target(args.url)
    sources = parse_sources(args.sources)
    before = proc_status(args.pid)
    peak_reset = reset_peak(args.pid)
    base = None
    if args.baseline > 0:  # the other user's latency with nothing else running
        p, q = run_probe(args, args.baseline)
        base = finish_probe(p, q, args.baseline)
    # Python's own per-process limit: one descriptor per connection and then some.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    secs = args.secs + (3 if args.mode == "slow" else 0)
    p, q = run_probe(args, secs)
    if args.mode == "flood":
        counts, samples, took = asyncio.run(flood_main(args, t, sources))
        extra = {"counts": dict(counts), "clients": args.clients,
                 "requests_per_sec": sum(v for k, v in counts.items() if k[0].isdigit()) / took}
    else:
        res, samples, took = asyncio.run(slow_main(args, t, sources))
        cut = {k: {"n": len(v), "min": min(v), "p50": pct(v, 50), "max": max(v)}
               for k, v in res["cut_s"].items()}
        extra = {"outcome": dict(res["outcome"]), "cut_s": cut, "conns": args.conns}
    probe_res = finish_probe(p, q, secs)
    time.sleep(1)
    after = proc_status(args.pid)
    out = {"mode": args.mode, "url_scheme": "https" if t.tls else "http",
           "sources": len(sources), "secs": args.secs, "took_s": took,
           "baseline": base, "probe": probe_res, "probe_rate": args.probe_rate,
           "before": before, "after": after, "peak_reset": peak_reset,
           "vmhwm_kib": after.get("VmHWM"), "rss_end_kib": after.get("VmRSS"), **peaks(samples),
           **extra}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: out[k] for k in ("mode", "url_scheme", "sources")} |
                     {"probe": {k: probe_res[k] for k in ("success", "p50", "p99", "max")}} |
                     ({"counts": out.get("counts")} if args.mode == "flood" else
                      {"outcome": out.get("outcome")}) |
                     {"vmhwm_kib": out["vmhwm_kib"], "fds_max": out["fds_max"],
                      "threads_max": out["threads_max"]}), file=sys.stderr)


# --- report ---------------------------------------------------------------------------------
def fmt_ms(v):
    return "n/a" if v is None else (f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms")


def mib(k):
    return "n/a" if k is None else f"{k / 1024:.1f} MiB"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def cmd_report(args):
    res = args.results
    runs = []
    for line in open(os.path.join(res, "runs.tsv")):
        name, label = line.rstrip("\n").split("\t", 1)
        runs.append((name, label))
    info = {}
    if os.path.exists(os.path.join(res, "info.tsv")):
        for line in open(os.path.join(res, "info.tsv")):
            k, _, v = line.rstrip("\n").partition("\t")
            info[k] = v

    def load(name):
        try:
            return json.load(open(os.path.join(res, name + ".json")))
        except OSError:
            return None

    f2, f4, verdicts = [], [], []
    for name, label in runs:
        for case, cl in (("many", "many addresses"), ("one", "one address")):
            d = load(f"{name}-flood-{case}")
            if d:
                c = d["counts"]
                other = sum(v for k, v in c.items() if k not in ("401", "429", "503"))
                pr = d["probe"]
                ok = (d["vmhwm_kib"] or 0) < 256 * 1024 and (pr["p99"] or 1e9) < 50 \
                    and other == 0 and pr["success"] == 1.0
                verdicts.append(ok)
                conn_err = sum(v for k, v in c.items() if k.startswith("conn:"))
                f2.append([label if case == "many" else "", f"{d['clients']} from {d['sources']} "
                           f"({cl})", f"{d['requests_per_sec']:,.0f}",
                           f"{c.get('401', 0):,}", f"{c.get('429', 0):,}", f"{c.get('503', 0):,}",
                           f"{other - conn_err:,}" + (f" (+{conn_err:,} conn. errors)" if conn_err else ""),
                           mib(d["vmhwm_kib"]), mib(d["rss_end_kib"]),
                           f"{pr['ok']:,}/{pr['calls']:,}", fmt_ms(pr["p50"]), fmt_ms(pr["p95"]),
                           fmt_ms(pr["p99"]), fmt_ms(pr["max"]),
                           fmt_ms(d["baseline"]["p99"]) if d.get("baseline") else "n/a",
                           "**met**" if ok else "**missed**"])
            d = load(f"{name}-slow-{case}")
            if d:
                o = d["outcome"]
                pr = d["probe"]
                cut = d["cut_s"]
                c408 = cut.get("408")
                outcome = ", ".join(f"{k}: {v:,}" for k, v in sorted(o.items(), key=lambda kv: -kv[1]))
                f4.append([label if case == "many" else "", f"{d['conns']:,} from {d['sources']} "
                           f"({cl})", outcome,
                           "n/a" if not c408 else f"{c408['p50']:.1f} s (max {c408['max']:.1f} s)",
                           "n/a" if "429" not in cut else f"{cut['429']['p50'] * 1e3:.0f} ms",
                           f"{d['fds_max']:,}" if d["fds_max"] else "n/a",
                           f"{d['after'].get('fds', 0):,}", f"{d['threads_max']}",
                           mib(d["vmhwm_kib"]),
                           "n/a" if pr["success"] is None else f"{pr['success'] * 100:.2f}% of {pr['calls']:,}",
                           fmt_ms(pr["p50"]), fmt_ms(pr["p99"])])
    lines = [
        "<!-- scripts/load: begin (scripts/bench keeps this section as it is) -->",
        "## Abuse resistance", "",
        f"Generated by `scripts/load` ({info.get('date', '?')}, igor {info.get('commit', '?')}, "
        f"{info.get('nproc', '?')} cores; not by `scripts/bench`). Release igord on loopback, "
        "with its defaults (`[limits]` untouched: 256 connections per address, work budget "
        "60,000 per user per minute, hashing pool of max(1, cores/2) threads and 64 waiting). "
        "The load is a Python asyncio program (`scripts/bench.d/load.py`); the other user is "
        "a separate process making authenticated `POST /api/rpc {\"command\":\"ping\"}` calls "
        f"on one kept-alive connection at {info.get('probe_rate', '?')}/s from its own "
        f"address ({info.get('probe_source', '?')}), with a valid token. igord's peak RSS "
        "is VmHWM from /proc, reset at the start of each phase (clear_refs); descriptors "
        "and threads are sampled every 250 ms.",
        "",
        "**Caveat:** load generator, other user and igord share the machine's "
        f"{info.get('nproc', '?')} cores (and the machine was shared with other builds): "
        "the Python flood takes about one core by itself, so the figures are what igord "
        "does with what is left, not its ceiling, and latencies include the scheduler's "
        "share.", "",
        f"### F2: login flood ({info.get('flood_clients', '?')} clients, "
        f"{info.get('flood_secs', '?')} s of wrong-password logins)", "",
        "Each client keeps one connection (reopened when igord closes it) and alternates "
        "the admin's name with names that do not exist (hashed all the same). Many "
        "addresses: clients spread over 127.0.3.x–127.0.4.x, one address each; one "
        "address: all from 127.0.6.1 (the per-address throttle and connection cap act). "
        "Targets: peak RSS < 256 MiB, other user's p99 < 50 ms, no 500 or other status, "
        "every call of the other user answered 200. `baseline p99` is the other user "
        "alone for a few seconds just before.", "",
        table(["igord", "flooders", "logins/s", "401", "429", "503", "other", "peak RSS",
               "RSS at end", "other user ok", "p50", "p95", "p99", "max", "baseline p99",
               "target"], f2), "",
        f"### F4: slow bodies ({info.get('slow_conns', '?')} connections, one body byte "
        "every 2 s)", "",
        "Each connection sends `POST /api/login` with `Content-Length: 64`, then one byte "
        f"every 2 s (opened over {info.get('slow_ramp', '?')} s). igord must answer 408 when "
        "the body has not arrived 10 s after the head, and 429 + close at once to the "
        "connections over an address's cap. `cut after` is from the end of the head to "
        "igord's answer. Many addresses: 127.0.7.x; one address: 127.0.8.1.", "",
        table(["igord", "slow connections", "outcome", "408 after", "429 after",
               "igord fds max", "fds after", "threads max", "peak RSS", "other user 200",
               "p50", "p99"], f4), "",
        "Reproduce: `scripts/load` (about 5 minutes on 2 cores, plus the release build); "
        "it replaces this section of BENCHMARKS.md (`IGOR_BENCH_OUT` writes elsewhere).",
        "<!-- scripts/load: end -->"]
    print("\n".join(lines))
    return 0 if all(verdicts) else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for mode in ("flood", "slow"):
        s = sub.add_parser(mode)
        s.set_defaults(mode=mode)
        s.add_argument("--url", required=True)
        s.add_argument("--pid", type=int, required=True)
        s.add_argument("--token-env", required=True)
        s.add_argument("--sources", required=True)
        s.add_argument("--probe-source", default="127.0.5.1")
        s.add_argument("--probe-rate", type=float, default=200.0)
        s.add_argument("--baseline", type=float, default=3.0)
        s.add_argument("--secs", type=float, default=10.0 if mode == "flood" else 16.0)
        s.add_argument("--out", required=True)
        if mode == "flood":
            s.add_argument("--clients", type=int, default=400)
        else:
            s.add_argument("--conns", type=int, default=2000)
            s.add_argument("--ramp", type=float, default=2.0)
    r = sub.add_parser("report")
    r.add_argument("results")
    args = ap.parse_args()
    if args.cmd == "report":
        sys.exit(cmd_report(args))
    cmd_phase(args)


if __name__ == "__main__":
    main()
