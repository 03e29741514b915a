"""The durable spool: what was written survives, what was acknowledged goes, a torn tail never crashes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xase import XaseError
from xase.spool import LOG_NAME, Spool


def payload(n: int) -> dict[str, object]:
    return {"policy": "credit_policy_v4", "input": {"n": n, "name": "é" * (n % 5)}, "output": {"ok": True}}


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    opened = Spool(tmp_path / "spool")
    yield opened
    opened.close()


def test_pending_records_survive_reopening_in_order_and_acknowledged_ones_do_not(tmp_path: Path) -> None:
    first = Spool(tmp_path / "spool", fsync="always")
    for n in range(5):
        first.append(f"key-{n}", payload(n))
    first.ack(["key-1", "key-3", "never-written"])
    first.close()
    again = Spool(tmp_path / "spool")
    assert [key for key, _ in again.pending()] == ["key-0", "key-2", "key-4"]
    assert again.pending()[1][1] == payload(2) and again.cut_bytes == 0
    again.close()


def test_a_torn_tail_is_cut_and_the_spool_keeps_working(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = Spool(tmp_path / "spool")
    for n in range(3):
        first.append(f"key-{n}", payload(n))
    first.close()
    log = tmp_path / "spool" / LOG_NAME
    whole = log.read_bytes()
    log.write_bytes(whole[:-7])  # a crash in the middle of the last write
    with caplog.at_level(logging.WARNING, logger="xase"):
        again = Spool(tmp_path / "spool")
    assert [key for key, _ in again.pending()] == ["key-0", "key-1"] and again.cut_bytes > 0
    assert "cut" in caplog.text
    again.append("key-3", payload(3))
    again.close()
    assert [key for key, _ in Spool(tmp_path / "spool").pending()] == ["key-0", "key-1", "key-3"]


def test_a_corrupt_frame_cuts_everything_after_it(tmp_path: Path) -> None:
    first = Spool(tmp_path / "spool")
    for n in range(3):
        first.append(f"key-{n}", payload(n))
    first.close()
    log = tmp_path / "spool" / LOG_NAME
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit pattern inside the second record
    log.write_bytes(bytes(data))
    again = Spool(tmp_path / "spool")
    assert [key for key, _ in again.pending()] == ["key-0"]
    again.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=10_000))
def test_any_truncation_reopens_to_a_prefix(tmp_path: Path, cut_at: int) -> None:
    directory = tmp_path / f"spool-{cut_at}"
    writer = Spool(directory)
    for n in range(8):
        writer.append(f"key-{n}", payload(n))
    writer.close()
    log = directory / LOG_NAME
    data = log.read_bytes()
    log.write_bytes(data[: cut_at % (len(data) + 1)])
    reader = Spool(directory)
    keys = [key for key, _ in reader.pending()]
    assert keys == [f"key-{n}" for n in range(len(keys))]
    reader.close()


def test_compaction_keeps_only_what_is_pending(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", compact_after=50)
    for n in range(100):
        spool.append(f"key-{n}", payload(n))
    before = (tmp_path / "spool" / LOG_NAME).stat().st_size
    spool.ack([f"key-{n}" for n in range(90)])
    after = (tmp_path / "spool" / LOG_NAME).stat().st_size
    spool.close()
    assert after < before / 5
    assert [key for key, _ in Spool(tmp_path / "spool").pending()] == [f"key-{n}" for n in range(90, 100)]


def test_one_process_per_spool(spool: Spool) -> None:
    with pytest.raises(XaseError, match="in use by another process"):
        Spool(spool.directory)
    spool.close()
    Spool(spool.directory).close()


def test_bad_fsync_policy(tmp_path: Path) -> None:
    with pytest.raises(XaseError, match="fsync"):
        Spool(tmp_path, fsync="sometimes")  # type: ignore[arg-type]


def test_kill_9_mid_stream_leaves_a_readable_spool(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from xase.spool import Spool
        spool = Spool({str(directory)!r}, fsync="off")
        n = 0
        while True:
            spool.append(f"key-{{n}}", {{"n": n, "blob": "x" * 300}})
            if n % 3 == 0:
                spool.ack([f"key-{{n}}"])
            if n == 500:
                print("written", flush=True)
            n += 1
    """)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert writer.stdout is not None and writer.stdout.readline() == "written\n"  # mid-stream, whatever the machine's speed
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    reader = Spool(directory)
    keys = [key for key, _ in reader.pending()]
    assert keys and all(int(key.split("-")[1]) % 3 != 0 for key in keys[:-1])
    numbers = [int(key.split("-")[1]) for key in keys]
    assert numbers == sorted(numbers)
    reader.close()
