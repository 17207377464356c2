"""Load test of `python -m ocrtrain.serve` on loopback with real photos.

    python scripts/load_test.py [--requests 200] [--clients 4 16] [--workers 1] [-- extra serve overrides]

Starts the service, then for each client count sends ``--requests`` POSTs of the bundled ICDAR photos from that
many concurrent clients and prints p50/p99 latency, throughput, errors and the server's RSS after the phase (no
growth between phases = no leak). Last, a burst of bad bodies (oversized, not an image, truncated JPEG) interleaved
with good requests: every bad one must get a 4xx JSON error while every good one succeeds. Exit status 1 on any
unexpected answer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = sorted((REPO / "datasets" / "icdar2015_demo" / "images").glob("*.jpg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes, content_type: str = "image/jpeg") -> tuple[int, float, dict]:
    """(status, seconds, JSON answer) of one POST /ocr on a fresh connection."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/ocr", body=body, headers={"content-type": content_type})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
        return response.status, time.perf_counter() - start, answer
    finally:
        conn.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_healthy(port: int, server: subprocess.Popen, deadline_s: float = 180) -> dict:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            return json.loads(conn.getresponse().read())
        except OSError:
            if server.poll() is not None:
                sys.exit(f"the service exited: {server.communicate()[1][-2000:]}")
            if time.monotonic() > deadline:
                sys.exit("the service did not become healthy")
            time.sleep(0.5)


def phase(port: int, clients: int, requests: int, photos: list[bytes]) -> dict:
    with ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda i: post(port, photos[i % len(photos)]), range(requests)))
        wall = time.perf_counter() - start
    latencies = sorted(seconds for status, seconds, _ in results if status == 200)
    errors = [(status, answer.get("error")) for status, _, answer in results if status != 200]
    return {
        "clients": clients,
        "requests": requests,
        "ok": len(latencies),
        "errors": errors,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else float("nan"),
        "throughput_rps": len(latencies) / wall,
    }


def bad_burst(port: int, photos: list[bytes], max_body_mb: float) -> list[str]:
    """Bad bodies interleaved with good ones, concurrently; returns what went wrong (empty = all as expected)."""
    oversized = b"\xff\xd8" + b"\0" * int(max_body_mb * 1024 * 1024 + 10)
    cases = [
        ("oversized", oversized, "image/jpeg", 413),
        ("not an image", b"plain text, not pixels" * 100, "image/png", 400),
        ("truncated JPEG", photos[0][: len(photos[0]) // 2], "image/jpeg", 400),
        ("good", photos[1], "image/jpeg", 200),
    ] * 5
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda c: post(port, c[1], c[2]), cases))
    problems = []
    for (name, _, _, want), (status, _, answer) in zip(cases, answers, strict=True):
        if status != want or (want != 200 and "error" not in answer):
            problems.append(f"{name}: status {status} (expected {want}), answer {str(answer)[:200]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-body-mb", type=float, default=4.0)
    parser.add_argument("overrides", nargs="*", help="more `python -m ocrtrain.serve` overrides")
    args = parser.parse_args()

    port = free_port()
    command = [sys.executable, "-m", "ocrtrain.serve", f"port={port}", f"workers={args.workers}"]
    command += [f"max_queue={max(args.clients)}", f"max_body_mb={args.max_body_mb}", *args.overrides]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failed = False
    try:
        health = wait_healthy(port, server)
        photos = [p.read_bytes() for p in PHOTOS]
        print(f"service: {health}; {len(photos)} photos; server RSS {rss_mb(server.pid):.0f} MB after start")
        post(port, photos[0])  # the first request pays one-time set-up
        print("| clients | requests | ok | errors | p50 ms | p99 ms | req/s | server RSS MB after |")
        print("|---|---|---|---|---|---|---|---|")
        for clients in args.clients:
            r = phase(port, clients, args.requests, photos)
            failed |= bool(r["errors"])
            print(
                f"| {clients} | {r['requests']} | {r['ok']} | {len(r['errors'])} | {r['p50_ms']:.0f} | "
                f"{r['p99_ms']:.0f} | {r['throughput_rps']:.2f} | {rss_mb(server.pid):.0f} |"
            )
            for status, error in r["errors"][:5]:
                print(f"  error {status}: {error}")
        problems = bad_burst(port, photos, args.max_body_mb)
        failed |= bool(problems)
        print(
            f"bad-body burst: {20 - len(problems)}/20 answered as expected (413/400 JSON errors, good ones 200)"
        )
        for problem in problems:
            print("  " + problem)
        print(f"server RSS after the burst: {rss_mb(server.pid):.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
