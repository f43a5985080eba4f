#!/usr/bin/env python3
"""Drives one serial console client on a pseudo-terminal, as a person at a terminal would,
for scripts/bench section 6.

  console_drive.py --ready TEXT --keys N --out FILE -- CMD ARGS...

Starts CMD on a new pty, waits until it shows TEXT (attached), then types N keystrokes one
at a time, each after the echo of the previous one came back through the console
(keystroke-to-echo latency), asks the host for its bulk output (0x02, see tests/bmc-sim/serial_host.py)
and times it until `BULK-END` (throughput), and leaves with `\\r~.`. Writes a JSON object
with the latencies (s), the bulk bytes and seconds.
"""
import argparse
import json
import os
import pty
import select
import signal
import time


def read_until(fd, want, timeout, seen=b""):
    deadline = time.monotonic() + timeout
    buf = bytearray(seen)
    while want not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"no {want!r} within {timeout} s; the terminal shows {bytes(buf[-400:])!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                raise SystemExit(f"the program ended before {want!r}: {bytes(buf[-400:])!r}")
            if not chunk:
                raise SystemExit(f"the program ended before {want!r}")
            buf += chunk
    return bytes(buf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready", required=True)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--out", required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    try:
        read_until(fd, a.ready.encode(), 30)
        # Let the attach's own output (scrollback, notes) pass before timing.
        while select.select([fd], [], [], 0.3)[0]:
            os.read(fd, 65536)
        lat = []
        for i in range(a.keys):
            key = bytes([ord("a") + i % 26])
            t0 = time.perf_counter()
            os.write(fd, key)
            read_until(fd, key, 10)
            lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        os.write(fd, b"\x02")
        got = read_until(fd, b"BULK-END", 300)
        bulk_secs = time.perf_counter() - t0
        os.write(fd, b"\r~.")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                select.select([fd], [], [], 0.1) and os.read(fd, 65536)
            except OSError:
                pass
        else:
            raise SystemExit("the program did not leave on ~.")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    json.dump({"latencies": lat, "bulk_bytes": len(got), "bulk_secs": bulk_secs},
              open(a.out, "w"))


if __name__ == "__main__":
    main()
