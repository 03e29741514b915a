"""Records/s from one XaseClient to one ledger, delivered, chained and signed (SQLite, local signer).

    python scripts/bench/e2e_throughput.py [--records 50000]

One process records `--records` decisions fire-and-forget as fast as it can and flushes; the clock stops when
every record is acknowledged; then the chain must verify and hold every record in the order recorded. Every line
names the settings it ran with; "defaults" means no option given at all, to the SDK or to `xase-ledger serve`. The
caller never lets the SDK's queue (10,000 by default) overflow: it waits while 9,000 are queued, as an
application that keeps its records would (that is the caller's pace, not an SDK setting). In one run:
  - SDK defaults -> `xase-ledger serve` defaults (gunicorn, a worker per core);
  - the same with one batch at a time (max_in_flight=1), and with the SDK defaults before this release
    (batch_size=100, max_in_flight=1);
  - SDK defaults -> the development server (`--workers 0`);
  - the ledger alone: pre-built SDK-like batches of 500 from one plain HTTP client;
  - the baseline: Segment's analytics-python sending the same decisions to a local null sink (an HTTP server
    that answers 200 to everything), with Segment's defaults, then tuned to batches of 500 like ours.
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
from typing import Any, Optional

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger, sdk_like_batch

from xase import XaseClient, evidence

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


def _in_order(ledger_url: str, api_key: str, records: int) -> bool:
    """Whether the chain holds the decisions in the order recorded (their input commitments, page by page)."""
    session, cursor, seen = requests.Session(), None, []
    session.headers["X-API-Key"] = api_key
    while True:
        page = session.get(ledger_url + "/records", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}, timeout=60).json()
        seen += [record["record"]["input_hash"] for record in page["records"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return seen == [evidence.commitment(_decision(n)["input"]) for n in range(records)]


def _sdk(records: int, workers: Optional[int], options: dict[str, Any], extra_env: Optional[dict[str, str]] = None) -> tuple[float, bool]:
    """Records/s acknowledged, and whether the chain verifies with every record in it, in the order recorded."""
    with running_ledger(extra_env, workers=workers) as ledger:
        client = XaseClient(api_key=ledger.api_key, base_url=ledger.base_url, **options)
        room = client.config.queue_max_size - 1000
        start = time.perf_counter()
        for n in range(records):
            while n % 100 == 0 and client.get_stats()["size"] > room:  # the caller's pace: never past the queue
                time.sleep(0.001)
            client.record(_decision(n))
        client.flush(timeout_s=600)
        elapsed = time.perf_counter() - start
        stats = client.get_stats()
        client.close()
        chain = requests.get(ledger.base_url + "/verify", headers={"X-API-Key": ledger.api_key}, timeout=600).json()
        whole = bool(chain["ok"]) and chain["records"] == records == stats["sent"] and not stats["dropped"]
        return stats["sent"] / elapsed, whole and _in_order(ledger.base_url, ledger.api_key, records)


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


def _segment(records: int, upload_size: Optional[int]) -> float:
    """Events/s through Segment's client to a null sink: its defaults (upload_size None), or batches of `upload_size`."""
    if importlib.util.find_spec("segment") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "segment-analytics-python"], check=True)
    from segment.analytics import Client

    logging.getLogger("segment").setLevel(logging.CRITICAL)
    sink = subprocess.Popen([sys.executable, "-c", NULL_SINK], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())  # type: ignore[union-attr]
        client = Client("bench-write-key", host=f"http://127.0.0.1:{port}", **({"upload_size": upload_size} if upload_size else {}))
        room = client.queue.maxsize - 1000  # its queue drops past 10,000 by default: the same caller's pace as ours
        start = time.perf_counter()
        for n in range(records):
            while n % 100 == 0 and client.queue.qsize() > room:
                time.sleep(0.001)
            decision = _decision(n)
            client.track(user_id="u", event="credit_policy_v4", properties={"input": decision["input"], "output": decision["output"]},
                         context={"confidence": 0.94}, message_id=f"m_{n}")  # fmt: skip
        client.flush()
        return records / (time.perf_counter() - start)
    finally:
        sink.terminate()


DEFAULTS = "SDK defaults -> xase-ledger serve defaults"
SETTINGS: list[tuple[str, Optional[int], dict[str, Any]]] = [
    (DEFAULTS, None, {}),
    ("SDK max_in_flight=1 (else defaults) -> serve defaults", None, {"max_in_flight": 1}),
    ("SDK batch_size=100, max_in_flight=1 (the previous defaults) -> serve defaults", None, {"batch_size": 100, "max_in_flight": 1}),
    ("SDK defaults -> development server (serve --workers 0)", 0, {}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    n = args.records
    runs = {label: _sdk(n, workers, options) for label, workers, options in SETTINGS}
    for label, (rate, whole) in runs.items():
        print(f"e2e {label:<82} {rate:>9,.0f} records/s  (all {n} chained in order, signed, verified: {whole})")
    alone = _ledger_alone(min(n, 20_000), 1)
    print(f"ledger alone: serve defaults, pre-built batches of 500 from one plain HTTP client, one at a time{'':<1} {alone:>9,.0f} records/s")
    segment = _segment(n, None)
    print(f"baseline: Segment analytics-python, its defaults (upload_size 100) -> null sink{'':<11} {segment:>9,.0f} events/s (nothing signed or stored)")
    tuned = _segment(n, 500)
    print(f"baseline: Segment analytics-python, upload_size=500 -> null sink{'':<25} {tuned:>9,.0f} events/s (nothing signed or stored)")
    ours, before = runs[DEFAULTS][0], runs[SETTINGS[2][0]][0]
    print(f"ratio: defaults / Segment defaults = {ours / segment:.2f}; defaults / the previous defaults = {ours / before:.2f}")
    return 0 if all(whole for _rate, whole in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
