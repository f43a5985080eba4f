#!/usr/bin/env python3
"""Waits until every listed BMC answers an RMCP/ASF presence ping (what tests/support/sim.rs
does for one simulator), so measurements never include a simulator's start-up.

  rmcp_wait.py PORT HOST... [--timeout SECONDS]

Exits 1 naming the hosts that did not answer in time.
"""
import socket
import sys
import time

PING = bytes([0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x01, 0x00, 0x00])


def main():
    args = sys.argv[1:]
    timeout = 20.0
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i:i + 2]
    port, hosts = int(args[0]), set(args[1:])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    deadline = time.monotonic() + timeout
    while hosts and time.monotonic() < deadline:
        for h in hosts:
            try:
                sock.sendto(PING, (h, port))
            except OSError:
                pass
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            try:
                data, (h, _) = sock.recvfrom(64)
            except socket.timeout:
                break
            if len(data) >= 9 and data[8] == 0x40:
                hosts.discard(h)
    if hosts:
        print("no RMCP answer from: " + " ".join(sorted(hosts)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
