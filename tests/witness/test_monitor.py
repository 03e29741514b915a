"""`xase monitor` against real ledgers on loopback: it copies and proves every entry, picks up where it stopped,
and alarms (exit 1, and a webhook) on a rewritten history, tiles that do not give the signed root, a missing
witness quorum and a witness that cosigned two roots of one size."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import BACKENDS, Api, LedgerProcess, decision
from tests.evidence.test_log_receipts import _append, _rewrite_from, _wait_for_checkpoint
from tests.witness.test_witness_protocol import WitnessProcess
from xase import cli, note
from xase.monitor import Monitor, MonitorAlarm


@pytest.fixture(params=BACKENDS)
def fast_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path / "ledger", env={"XASE_CHECKPOINT_INTERVAL": "0.1"}, backend=request.param)
    process.directory.mkdir()
    yield process.start()
    process.destroy()


@pytest.fixture
def webhook() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.append({"url": f"http://127.0.0.1:{server.server_address[1]}/alarm"})
    yield received
    server.shutdown()


def _monitor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["monitor", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_monitor_proves_every_entry_and_catches_a_rewrite(fast_ledger: LedgerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch, webhook: list[dict[str, Any]]) -> None:  # fmt: skip
    api = Api(fast_ledger, fast_ledger.new_api_key())
    monkeypatch.setenv("XASE_API_KEY", api.key)
    _append(api, 30)  # 300 entries: a full tile and a partial one
    _wait_for_checkpoint(api, 300)
    hook = webhook[0]["url"]
    args = ("--log", fast_ledger.base_url + "/log", "--state", str(tmp_path / "monitor"), "--webhook", hook)
    code, out, err = _monitor(capsys, *args)
    assert code == 0 and "300 entries verified (300 new)" in out and "300/300 entries" in err, (out, err)
    _append(api, 2)
    _wait_for_checkpoint(api, 320)
    code, out, _ = _monitor(capsys, *args)
    assert code == 0 and "320 entries verified (20 new)" in out, out

    tenant_id = api.get("/stats").json()["tenant_id"]
    fast_ledger.stop()
    _rewrite_from(fast_ledger, tenant_id, 100)
    fast_ledger.start()
    _append(api, 25, tag="DENIED")
    _wait_for_checkpoint(api, 350)
    code, _, err = _monitor(capsys, "--log", fast_ledger.base_url + "/log", *args[2:])  # the restarted ledger's new port, the same view
    assert code == 1 and "ALARM fork" in err, err
    assert webhook[1]["alarm"] == "fork" and len(webhook[1]["notes"]) == 2


def test_tiles_that_do_not_give_the_signed_root_are_an_alarm_and_never_kept(fast_ledger: LedgerProcess, tmp_path: Path) -> None:
    api = Api(fast_ledger, fast_ledger.new_api_key())
    _append(api, 30)
    _wait_for_checkpoint(api, 300)
    fast_ledger.stop()
    tile = fast_ledger.sql("SELECT hashes FROM log_tiles WHERE level = 0 AND tile_index = 0")[0]["hashes"]
    fast_ledger.sql("UPDATE log_tiles SET hashes = :h WHERE level = 0 AND tile_index = 0", h=bytes(256 * 32))
    fast_ledger.start()
    monitor = Monitor(tmp_path / "monitor", api_key=api.key)
    with pytest.raises(MonitorAlarm) as alarm:
        monitor.check(fast_ledger.base_url + "/log")
    assert alarm.value.kind == "tiles"
    (leaves,) = (tmp_path / "monitor").glob("*.leaves")
    assert leaves.stat().st_size == 0  # what did not give the root was not kept
    fast_ledger.stop()
    fast_ledger.sql("UPDATE log_tiles SET hashes = :h WHERE level = 0 AND tile_index = 0", h=bytes(tile))
    fast_ledger.start()
    assert monitor.check(fast_ledger.base_url + "/log").new_entries == 300  # the log mended, the monitor agrees

    _append(api, 2)
    _wait_for_checkpoint(api, 320)
    with open(leaves, "ab") as crashed:  # a pass that died mid-write: leaves past the verified frontier
        crashed.write(bytes(70))
    assert monitor.check(fast_ledger.base_url + "/log").new_entries == 20
    next((tmp_path / "monitor").glob("*.frontier.json")).unlink()  # a copy an older monitor wrote
    assert monitor.check(fast_ledger.base_url + "/log").size == 320


def test_a_missing_quorum_and_an_equivocating_witness_are_alarms(ledger: LedgerProcess, tmp_path: Path) -> None:
    api = Api(ledger, ledger.new_api_key())
    api.post("/records/batch", json={"records": [decision(n) for n in range(5)]})
    _wait_for_checkpoint(api, 5)
    key = ed25519.Ed25519PrivateKey.generate()
    witness = note.cosigner_verifier("witness.test/w7", key.public_key())
    with pytest.raises(MonitorAlarm) as alarm:
        Monitor(tmp_path / "monitor", [witness.vkey], 1, api_key=api.key).check(ledger.base_url + "/log")
    assert alarm.value.kind == "quorum"

    monitor = Monitor(tmp_path / "equivocation", [witness.vkey], 0)
    for root in (bytes(32), bytes([1]) * 32):  # one witness, one size, two roots: each note alone looks fine
        text = note.format_checkpoint(note.Checkpoint("test.example/log/1", 9, root))
        signed = text + "\n" + note.cosign(key, witness.name, text, int(time.time())).line
        checkpoint = note.parse_checkpoint(text)
        try:
            monitor._witnessed(checkpoint, signed, tmp_path / "equivocation" / "w.json")
        except MonitorAlarm as caught:
            assert caught.kind == "equivocation" and root == bytes([1]) * 32
            return
    raise AssertionError("the second root of size 9 was not an alarm")


def test_a_split_view_is_caught_by_the_witness_and_the_monitor(tmp_path: Path) -> None:
    """The operator serves two histories with the same keys (a copy of the database, each copy appended to apart):
    each alone is consistent; the witness cosigns only one of them, and a monitor that reads both addresses alarms."""
    first = LedgerProcess(tmp_path / "a", env={"XASE_CHECKPOINT_INTERVAL": "0.1"})
    first.directory.mkdir()
    first.start()
    api = Api(first, first.new_api_key("acme"))
    _append(api, 2)
    _wait_for_checkpoint(api, 20)
    log_vkey = api.get("/log/keys").json()["vkeys"][0]
    first.stop()
    (tmp_path / "b").mkdir()
    second = LedgerProcess(tmp_path / "b", env=first.env)
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "signing-key.pem", "xase-log-key.pem"):  # the same keys: only witnesses and monitors can tell
        if (first.directory / name).exists():
            (second.directory / name).write_bytes((first.directory / name).read_bytes())
    first.start()
    second.start()
    witness = WitnessProcess(tmp_path / "w", [log_vkey])
    witness.directory.mkdir()
    witness.start()
    try:
        views = []
        for ledger, tag in ((first, "APPROVED"), (second, "DENIED")):
            client = Api(ledger, ledger.new_api_key("acme"))
            _append(client, 1, tag=tag)
            views.append(_wait_for_checkpoint(client, 30))
        assert views[0] != views[1]
        assert witness.add(0, [], views[0]).status_code == 200
        assert witness.add(30, [], views[1]).status_code == 422  # the same size with another root: never cosigned
        monitor = Monitor(tmp_path / "monitor", api_key=api.key)
        assert monitor.check(first.base_url + "/log").size == 30
        monitor.api_key = Api(second, second.new_api_key("acme")).key
        with pytest.raises(MonitorAlarm) as alarm:
            monitor.check(second.base_url + "/log")
        assert alarm.value.kind == "fork"
    finally:
        witness.stop()
        first.destroy()
        second.destroy()
