"""The floor of any client's TTFT error on this machine: a bare TCP round trip over loopback.

TTFT error against the fake server's truth contains two process wake-ups (the server's when the
request lands, the client's when the first token does) whatever the client does. This measures
them without any HTTP: a forked echo process, one byte each way, at a given send rate (idle CPUs
wake up slower than busy ones, so the floor depends on the rate).
"""

from __future__ import annotations

import os
import socket
import statistics
import time


def round_trip_p50_us(
    rates_hz: tuple[float, ...] = (10.0, 100.0, 1000.0), seconds: float = 2.0
) -> dict[str, float]:
    """Median round trip (µs) per send rate, between this process and a forked echo process."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    pid = os.fork()
    if pid == 0:  # the echo process
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(64):
            conn.send(data)
        os._exit(0)
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out: dict[str, float] = {}
    try:
        for hz in rates_hz:
            trips = []
            for _ in range(max(20, int(hz * seconds))):
                time.sleep(1.0 / hz)
                t = time.perf_counter_ns()
                client.send(b"x")
                client.recv(64)
                trips.append(time.perf_counter_ns() - t)
            out[f"{hz:g}"] = round(statistics.median(trips) / 1e3, 1)
    finally:
        client.close()
        server.close()
        os.waitpid(pid, 0)
    return out


if __name__ == "__main__":
    print(round_trip_p50_us())
