"""What `sollama proxy` adds to a request, over calling the chosen host directly.

Starts the simulated demo fleet on loopback (never sleeping: `time_scale` 0, the
model already loaded, so the host's own time is small and steady), then a real
`sollama proxy` subprocess in front of it, and sends the same non-streaming
`/api/generate` request to the host directly and through the proxy,
alternating, over kept-alive connections. The client is a few lines of asyncio
(not httpx) so that its own cost stays out of the figures.

Prints, for 1 and 50 concurrent requests: the latency direct and through the
proxy (median and p99), the difference (the added latency), and the requests
per second through the proxy at 50 concurrent. Goals: median added <= 2 ms at 1
concurrent, p99 added < 10 ms at 50.

    python benchmarks/proxy.py [--requests N] [--http auto|h11|httptools]
                               [--loop auto|asyncio|uvloop]

The machine's cores are shared by the client, the proxy and the simulated host:
run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "llama3:8b"
BODY = json.dumps({"model": MODEL, "prompt": "hi", "stream": False,
                   "options": {"num_predict": 8}}).encode()


class Conn:
    """One kept-alive HTTP/1.1 connection: POST, read the whole answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                          f"\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
        if b"content-length" in headers:
            return status, await self.reader.readexactly(int(headers[b"content-length"]))
        out = b""
        while True:     # chunked
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            out += await self.reader.readexactly(size + 2)
            if size == 0:
                return status, out

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def measure(targets: dict[str, tuple[str, int]], concurrency: int, per_conn: int
                  ) -> tuple[dict[str, list[float]], float]:
    """Latencies (s) per target, each connection alternating between the targets;
    and the wall time of the proxy-only pass (for requests per second)."""
    lat: dict[str, list[float]] = {name: [] for name in targets}

    async def worker() -> None:
        conns = {name: Conn(*addr) for name, addr in targets.items()}
        for c in conns.values():
            await c.open()
        for _ in range(per_conn):
            for name, c in conns.items():
                t0 = time.perf_counter()
                status, _ = await c.post("/api/generate", BODY)
                lat[name].append(time.perf_counter() - t0)
                assert status == 200, status
        for c in conns.values():
            c.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def proxy_only() -> None:
        c = Conn(*targets["proxy"])
        await c.open()
        for _ in range(per_conn):
            await c.post("/api/generate", BODY)
        c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(proxy_only() for _ in range(concurrency)))
    return lat, time.perf_counter() - t0


def start_proxy(env: dict[str, str], http: str, loop: str) -> tuple[subprocess.Popen[bytes], int,
                                                                     Path]:
    log = Path(env["SOLLAMA_STATE_DIR"]).parent / "proxy.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "smartollama", "proxy", "--listen",
                                 "127.0.0.1:0", "--http", http, "--loop", loop],
                                env=env, stdout=f, stderr=f)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            return proc, int(m.group(1)), log
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise SystemExit(f"the proxy did not start: {log.read_text()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000,
                    help="requests per target at 1 concurrent (and in all at 50)")
    ap.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    ap.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    args = ap.parse_args()

    from smartollama.sim import Fleet, builtin_fleet

    with tempfile.TemporaryDirectory(prefix="sollama-bench-") as tmp, \
            Fleet(builtin_fleet("demo", time_scale=0.0)) as fleet:
        fleet["ollama-igpu"].load(MODEL)
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(fleet.config_toml())
        env = {**os.environ, "SOLLAMA_CONFIG": str(cfg), "SOLLAMA_STATE_DIR": f"{tmp}/state"}
        proc, port, _ = start_proxy(env, args.http, args.loop)
        try:
            import urllib.request

            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/generate", data=BODY,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                backend = r.headers["X-Sollama-Backend"]
            host = fleet[backend]
            targets = {"direct": ("127.0.0.1", host.port), "proxy": ("127.0.0.1", port)}
            print(f"sollama proxy (uvicorn --http {args.http} --loop {args.loop}) in front of "
                  f"{backend}; {MODEL}, non-streaming /api/generate")
            asyncio.run(measure(targets, 1, 200))       # warm-up
            for conc, per_conn in ((1, args.requests), (50, max(1, args.requests // 50))):
                lat, wall = asyncio.run(measure(targets, conc, per_conn))
                d, p = lat["direct"], lat["proxy"]
                med = (statistics.median(p) - statistics.median(d)) * 1e3
                p99 = (pct(p, 0.99) - pct(d, 0.99)) * 1e3
                print(f"  {conc:>2} concurrent, {len(p)} requests: direct median "
                      f"{statistics.median(d) * 1e3:.2f} ms, p99 {pct(d, 0.99) * 1e3:.2f} ms; "
                      f"proxy median {statistics.median(p) * 1e3:.2f} ms, "
                      f"p99 {pct(p, 0.99) * 1e3:.2f} ms")
                print(f"      added: median {med:.2f} ms, p99 {p99:.2f} ms"
                      + (f"; {conc * per_conn / wall:.0f} requests/s through the proxy"
                         if conc > 1 else ""))
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
