#!/usr/bin/env python3
"""The host's end of a simulated serial line (scripts/demo, scripts/bench section 6, the web
UI's test).

  serial_host.py PORT BULK_BYTES [BANNER]

ipmi_sim connects here (its lan.conf `sol "tcp:127.0.0.1:PORT" 115200` line) as a BMC's
serial port reaches its host. Every byte typed on the console comes back (a terminal's
echo), except 0x02, which makes the host print BULK_BYTES of numbered lines and then
`BULK-END`. BANNER (with \\r\\n escapes) is printed to each connection first and its last
line again after every line typed, as a getty prompts. ipmi_sim speaks telnet on this line: its option negotiation and breaks are
dropped, not echoed. Runs until killed; ipmi_sim reconnects after a drop.
"""
import socket
import sys

IAC = 0xFF


def block(size):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += b"%07d the quick brown fox jumps over the lazy dog\r\n" % i
        i += 1
    return bytes(out[:size]) + b"\r\nBULK-END\r\n"


def main():
    port, size = int(sys.argv[1]), int(sys.argv[2])
    banner = sys.argv[3].replace("\\r", "\r").replace("\\n", "\n").encode() if len(sys.argv) > 3 else b""
    bulk = block(size)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    # Said on stdout, so that a script can wait until it listens, then until the simulator
    # is connected.
    # PORT 0 takes a free port: the line says which.
    print(f"listening: 127.0.0.1:{srv.getsockname()[1]}", flush=True)
    while True:
        conn, peer = srv.accept()
        print(f"connected: {peer[0]}:{peer[1]}", flush=True)
        try:
            serve(conn, banner, bulk)
        except OSError:
            pass  # a peer gone mid-write ends its connection, never the host
        conn.close()


def serve(conn, banner, bulk):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if banner:
        conn.sendall(banner)
    skip = 0
    while True:
        data = conn.recv(4096)
        if not data:
            break
        echo = bytearray()
        for b in data:
            if skip:
                skip -= 1
            elif b == IAC:
                skip = 2  # IAC DO/DONT/WILL/WONT option; IAC BRK eats a typed byte at worst
            elif b == 0x02:
                if echo:
                    conn.sendall(bytes(echo))
                    echo.clear()
                conn.sendall(bulk)
            else:
                echo.append(b)
        if echo:
            if banner and b"\r" in echo:
                echo += b"\n" + banner.rsplit(b"\n", 1)[-1]
            conn.sendall(bytes(echo))


if __name__ == "__main__":
    main()
