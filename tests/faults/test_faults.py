"""Issue 6's fault scenarios, small enough for CI; scripts/faults/run.py runs them at full length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, LedgerProcess
from tests.faults import scenarios
from tests.faults.scenarios import Tally
from xase import XaseClientConfig


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path / "ledger", backend=request.param)
    process.directory.mkdir()
    yield process.start()
    process.destroy()


def _nothing_lost_nothing_twice(tally: Tally, unseen: int = 0) -> None:
    """`unseen`: records record() accepted in a process killed before the caller saw it return."""
    assert tally.present == tally.sent, tally
    assert tally.sent <= tally.acknowledged <= tally.sent + unseen, tally
    assert tally.duplicates == 0, tally
    assert tally.chain_ok, tally


def test_sdk_kill_9_mid_stream_loses_nothing_record_returned_for(ledger: LedgerProcess, tmp_path: Path) -> None:
    tally = scenarios.sdk_kill_9(ledger, ledger.new_api_key(), tmp_path, seconds=1.5)
    assert tally.sent > 100 and tally.figures["replayed_from_spool"] > 0  # killed mid-stream, with records still to deliver
    _nothing_lost_nothing_twice(tally, unseen=1)


def test_ledger_kill_9_mid_batch_then_restart_delivers_everything_once(ledger: LedgerProcess, tmp_path: Path) -> None:
    tally = scenarios.ledger_kill_9(ledger, ledger.new_api_key(), tmp_path, records=3000, kills=2)
    _nothing_lost_nothing_twice(tally)
    assert tally.figures["cli_verify_ok"] and tally.figures["failed"] == 0


def test_ledger_down_while_recording_memory_bounded_spool_takes_the_rest(ledger: LedgerProcess, tmp_path: Path) -> None:
    tally = scenarios.ledger_down(ledger, ledger.new_api_key(), tmp_path, down_seconds=3, rate=400, queue_max_size=200)
    _nothing_lost_nothing_twice(tally)
    # The bound, plus what a deferral puts back at the head: the batches in flight and the one prepared behind them.
    defaults = XaseClientConfig()
    assert tally.figures["peak_memory_queue"] <= 200 + (defaults.max_in_flight + 1) * defaults.batch_size
    assert tally.figures["peak_spilled"] > 0 and tally.figures["dropped"] == 0


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
def test_429_storms_and_5xx_bursts_honour_backoff_and_duplicate_nothing(ledger: LedgerProcess) -> None:
    tally = scenarios.storms(ledger, ledger.new_api_key(), records=1500)
    _nothing_lost_nothing_twice(tally)
    assert tally.figures["injected_faults"] > 5 and tally.figures["retry_after_violations"] == 0
    assert tally.figures["stats_accounted"] == tally.sent


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
def test_slow_ledger_past_the_timeout_retries_through_idempotency(ledger: LedgerProcess) -> None:
    tally = scenarios.slow_ledger(ledger, ledger.new_api_key(), records=600)
    _nothing_lost_nothing_twice(tally)
    assert tally.figures["delayed_answers"] >= 2 and tally.figures["sdk_retries"] >= 2


@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
def test_exit_with_a_dead_ledger_is_bounded_and_reports_what_is_undelivered(tmp_path: Path, spool: bool) -> None:
    tally = scenarios.exit_with_dead_ledger(tmp_path, records=500, budget=1.0, spool=spool)
    assert tally.figures["returncode"] == 0  # it exited (within the scenario's 60 s hang guard) while retry_deadline kept 500 records for 60 s
    assert tally.figures["reported_undelivered"] + tally.figures["reported_failed_earlier"] == 500, tally.figures["log"]
    assert tally.figures["kept_in_spool"] == (500 if spool else 0)
