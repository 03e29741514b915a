"""Publishing each organisation's log to S3-compatible storage (XASE_LOG_BUCKET, moto on loopback): the bucket holds
the tiles and checkpoint a tlog-tiles client reads, byte for byte what the ledger serves, and the Go reference checks
them from there."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.evidence.publishing import tiles_between
from tests.conftest import AWS_ENV, Api, LedgerProcess, decision, until
from tests.evidence.test_log import _go, _xasecheck
from xase import note, tlog

boto3 = pytest.importorskip("boto3", reason="the [kms] extra (boto3) is not installed")


def _tiles(size: int) -> set[tuple[int, int, int]]:
    """Every tile of the tree of `size`, by the tlog-tiles definition."""
    found, level = set(), 0
    while size >> (8 * level):
        entries = size >> (8 * level)
        found |= {(level, index, 256) for index in range(entries // 256)}
        if entries % 256:
            found.add((level, entries // 256, entries % 256))
        level += 1
    return found


@given(st.integers(0, 1 << 20), st.integers(0, 1 << 20))
def test_a_new_size_publishes_exactly_the_tiles_the_old_one_lacked(a: int, b: int) -> None:
    old, size = min(a, b), max(a, b)
    assert set(tiles_between(old, size)) == _tiles(size) - _tiles(old)


def _bucket(endpoint: str) -> Any:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=AWS_ENV["AWS_DEFAULT_REGION"],
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket="xase-logs", CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_DEFAULT_REGION"]})
    readable = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::xase-logs/*"}  # what a CDN origin gets
    s3.put_bucket_policy(Bucket="xase-logs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [readable]}))
    return s3


def _published(s3: Any, key: str, size: int) -> str:
    for _ in range(200):
        try:
            body = str(s3.get_object(Bucket="xase-logs", Key=key)["Body"].read().decode())
            if f"\n{size}\n" in body:
                return body
        except s3.exceptions.NoSuchKey:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of {size} published at {key}")


def test_the_bucket_holds_the_log_as_the_ledger_serves_it(tmp_path: Path, moto_endpoint: str) -> None:
    s3 = _bucket(moto_endpoint)
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint, "XASE_LOG_BUCKET": "xase-logs/pub", "XASE_CHECKPOINT_INTERVAL": "0.1"}
    ledger = LedgerProcess(tmp_path, env=env).start()
    try:
        api = Api(ledger, ledger.new_api_key())
        tenant_id = api.get("/stats").json()["tenant_id"]
        for count, size in ((3, 3), (297, 300), (300, 600)):
            assert api.post("/records/batch", json={"records": [decision(n) for n in range(count)]}).status_code == 200
            published = _published(s3, f"pub/{tenant_id}/checkpoint", size)
        assert published == api.get("/log/checkpoint").text
        head = s3.head_object(Bucket="xase-logs", Key=f"pub/{tenant_id}/tile/0/000")
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        for level, index, width in sorted(_tiles(600)):
            path = tlog.tile_path(level, index, width)
            stored = s3.get_object(Bucket="xase-logs", Key=f"pub/{tenant_id}/tile/{path}")["Body"].read()
            assert stored == api.get(f"/log/tile/{path}").content, path
        assert s3.get_object(Bucket="xase-logs", Key=f"pub/{tenant_id}/tile/0/000.p/3")["Body"].read()  # the first size's edge stays

        vkey = api.get("/log/keys").json()["vkeys"][0]
        note.open_note(published, [note.parse_vkey(vkey)])
        try:
            binary = _xasecheck(tmp_path)
        except pytest.skip.Exception:
            return
        job = {"vkey": vkey, "checkpoint": published, "log_url": f"{moto_endpoint}/xase-logs/pub/{tenant_id}", "api_key": "",
               "inclusion": [], "consistency": [], "prove_index": [0, 599], "prove_old": [3]}  # fmt: skip
        done = _go(binary, job)
        assert done.returncode == 0, done.stderr  # tlog.TileHashReader read the tiles from the bucket, each proven against the root
    finally:
        ledger.destroy()


def test_a_store_that_is_down_delays_publishing_and_never_an_append(tmp_path: Path) -> None:
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "XASE_LOG_BUCKET": "xase-logs", "XASE_CHECKPOINT_INTERVAL": "0.1"}
    ledger = LedgerProcess(tmp_path, env=env).start()
    try:
        api = Api(ledger, ledger.new_api_key())
        started = time.monotonic()
        for n in range(5):
            assert api.post("/records", json=decision(n)).status_code in (200, 201)
        assert time.monotonic() - started < 5  # hang guard: appends do not wait for the store
        until(lambda: "publishing logs to s3://xase-logs for ten_" in (tmp_path / "ledger.log").read_text())  # the failure, logged
    finally:
        ledger.destroy()
