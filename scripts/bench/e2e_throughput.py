"""Records/s from one XaseClient to one ledger, delivered, chained and signed (SQLite, local signer).

    python scripts/bench/e2e_throughput.py [--records 50000]

The SDK records as fast as the caller can (fire-and-forget, batch_size 500),
then flushes; the clock stops when every record is acknowledged. In one run:
  - `xase-ledger serve` as it starts by default (gunicorn, a worker per core),
    fed by the SDK with max_in_flight=2, then with the default of 1 (in order);
  - the development server (`--workers 0`) fed by the SDK with its defaults;
  - the ledger alone: pre-built SDK-like batches from one plain HTTP client;
  - the baseline: Segment's analytics-python sending the same decisions to a
    local null sink (an HTTP server that answers 200 to everything), in
    batches of 500 like ours (its default of 100 manages a quarter of that).
Bounded; loopback only. segment-analytics-python is installed if missing (bench only).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger, sdk_like_batch

from xase import XaseClient

NULL_SINK = """
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_port, flush=True)
server.serve_forever()
"""


def _decision(n: int) -> dict[str, object]:
    return {"policy": "credit_policy_v4", "input": {"user_id": f"u_{n}", "amount": n}, "output": {"decision": "APPROVED"}, "confidence": 0.94}


def _sdk(records: int, workers: Optional[int], max_in_flight: int) -> tuple[float, bool]:
    """Records/s acknowledged, and whether the chain verifies with every record in it."""
    with running_ledger(workers=workers) as ledger:
        client = XaseClient(api_key=ledger.api_key, base_url=ledger.base_url, batch_size=500, queue_max_size=records, flush_interval=0.05,
                            atexit_timeout=0, max_in_flight=max_in_flight)  # fmt: skip
        start = time.perf_counter()
        for n in range(records):
            client.record(_decision(n))
        client.flush(timeout_s=600)
        elapsed = time.perf_counter() - start
        sent = client.get_stats()["sent"]
        client.close()
        chain = requests.get(ledger.base_url + "/verify", headers={"X-API-Key": ledger.api_key}, timeout=600).json()
    return sent / elapsed, bool(chain["ok"]) and chain["records"] == records == sent


def _ledger_alone(records: int, concurrent: int) -> float:
    bodies = [sdk_like_batch(10**8 + i * 500, 500) for i in range(records // 500)]
    with running_ledger(workers=None) as ledger:
        session = requests.Session()
        session.headers.update({"X-API-Key": ledger.api_key, "Content-Type": "application/json"})
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrent))

        def post(body: bytes) -> None:
            session.post(ledger.base_url + "/records/batch", data=body, timeout=60).raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrent) as pool:
            list(pool.map(post, bodies))
        return len(bodies) * 500 / (time.perf_counter() - start)


def _segment(records: int) -> float:
    if importlib.util.find_spec("segment") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "segment-analytics-python"], check=True)
    from segment.analytics import Client

    logging.getLogger("segment").setLevel(logging.CRITICAL)
    sink = subprocess.Popen([sys.executable, "-c", NULL_SINK], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())  # type: ignore[union-attr]
        client = Client("bench-write-key", host=f"http://127.0.0.1:{port}", max_queue_size=records + 1, upload_size=500, max_retries=1)
        start = time.perf_counter()
        for n in range(records):
            decision = _decision(n)
            client.track(user_id="u", event="credit_policy_v4", properties={"input": decision["input"], "output": decision["output"]},
                         context={"confidence": 0.94}, message_id=f"m_{n}")  # fmt: skip
        client.flush()
        return records / (time.perf_counter() - start)
    finally:
        sink.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    n = args.records
    runs = {
        "SDK -> serve default (gunicorn), max_in_flight=2": _sdk(n, None, 2),
        "SDK -> serve default (gunicorn), max_in_flight=1": _sdk(n, None, 1),
        "SDK -> development server, SDK defaults": _sdk(n, 0, 1),
    }
    for label, (rate, verified) in runs.items():
        print(f"e2e {label:<50} {rate:>9,.0f} records/s  (all {n} chained, signed, verified: {verified})")
    alone = _ledger_alone(min(n, 20_000), 1)
    print(f"ledger alone: pre-built batches from one plain HTTP client{'':<7} {alone:>9,.0f} records/s")
    segment = _segment(n)
    print(f"baseline: Segment analytics-python -> null sink{'':<17} {segment:>9,.0f} events/s (nothing signed or stored)")
    best = runs["SDK -> serve default (gunicorn), max_in_flight=2"][0]
    ordered = runs["SDK -> serve default (gunicorn), max_in_flight=1"][0]
    print(f"ratio: our best e2e / Segment to a null sink = {best / segment:.2f}; max_in_flight 2 / 1 = {best / ordered:.2f}")
    return 0 if all(verified for _rate, verified in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
