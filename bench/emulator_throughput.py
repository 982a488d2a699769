# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Emulator throughput: requests/s served on loopback to a concurrent keep-alive client.

Run: .venv/bin/python -m bench.emulator_throughput [--requests 20000] [--clients 8] [--max-seconds 20]
(or .venv/bin/python bench/emulator_throughput.py). Bounded in count and time; prints one summary line.
"""

import argparse
import asyncio
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = (
    "/metadata/instance/compute/vmId?api-version=2021-02-01&format=text",
    "/metadata/instance?api-version=2021-02-01",
    "/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-02-01&format=text",
    "/metadata/versions",
)


async def _client(port, budget, deadline, statuses):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = 0
    try:
        while time.monotonic() < deadline:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            path = PATHS[index % len(PATHS)]
            index += 1
            writer.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n" % path).encode("ascii"))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _run(port, total, clients, max_seconds):
    budget = [total]
    statuses = {}
    started = time.monotonic()
    await asyncio.gather(*(_client(port, budget, started + max_seconds, statuses) for _dummy in range(clients)))
    return statuses, time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools.imds_emulator.testing import EmulatorProcess  # pylint: disable=import-outside-toplevel

    with EmulatorProcess("--rate-limit", "off", "--listen", "127.0.0.1:0") as proc:
        port = int(proc.url.rsplit(":", 1)[1])
        statuses, elapsed = asyncio.run(_run(port, args.requests, args.clients, args.max_seconds))
    done = sum(statuses.values())
    print("emulator throughput: %d requests/s (%d requests, %d clients, %.1f s)" % (done / elapsed, done, args.clients, elapsed))
    if set(statuses) != {200}:
        print("unexpected statuses: %r" % statuses)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
