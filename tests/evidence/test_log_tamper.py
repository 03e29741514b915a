"""Verification checks the organisation's log against its chain: a changed or deleted tile or checkpoint is BROKEN;
a chain whose tree is not built yet is an ERROR until `xase-ledger db upgrade` builds it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, Api, LedgerProcess, cloned_database, decision, ledger_cli, tamper


@pytest.fixture(scope="module", params=BACKENDS)
def pristine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    """600 records in three batches and a checkpoint of all of them, the ledger stopped."""
    ledger = LedgerProcess(tmp_path_factory.mktemp("pristine"), backend=request.param).start()
    api = Api(ledger, ledger.new_api_key("acme"))
    for start in range(0, 600, 200):
        assert api.post("/records/batch", json={"records": [decision(n) for n in range(start, start + 200)]}).status_code == 200
    for _ in range(100):  # one is signed within XASE_CHECKPOINT_INTERVAL (1 s) of the last append
        if "\n600\n" in api.get("/log/checkpoint").text:
            break
        time.sleep(0.1)
    ledger.stop()
    yield ledger
    ledger.destroy()


@pytest.fixture
def clone(pristine: LedgerProcess, tmp_path: Path) -> Iterator[str]:
    with cloned_database(pristine, tmp_path) as url:
        yield url


TAMPERING = {
    "tile hashes": "UPDATE log_tiles SET hashes = (SELECT hashes FROM log_tiles WHERE tile_index = 1) WHERE tile_index = 0",
    "tile root": "UPDATE log_tiles SET root = (SELECT root FROM log_tiles WHERE tile_index = 1) WHERE tile_index = 0",
    "deleted tile": "DELETE FROM log_tiles WHERE tile_index = 0",
    "checkpoint root": "UPDATE log_checkpoints SET root = (SELECT record_hash FROM records WHERE seq = 0)",
    "checkpoint size": "UPDATE log_checkpoints SET tree_size = 599 WHERE tree_size = 600",
    "checkpoint note": "UPDATE log_checkpoints SET note = REPLACE(note, '\n600\n', '\n599\n')",
    "checkpoint key": "DELETE FROM log_keys",
}


def test_an_untouched_log_verifies(clone: str, pristine: LedgerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ledger_cli(clone, pristine.key_path, capsys, "verify", "--tenant", "acme")
    assert code == 0 and "OK (600 records, 3 blocks)" in out, out


@pytest.mark.parametrize("change", sorted(TAMPERING))
def test_a_changed_tile_or_checkpoint_is_broken(clone: str, pristine: LedgerProcess, capsys: pytest.CaptureFixture[str], change: str) -> None:
    tamper(clone, TAMPERING[change])
    code, out, _ = ledger_cli(clone, pristine.key_path, capsys, "verify", "--tenant", "acme")
    assert code == 1 and "BROKEN" in out, out


def test_a_chain_whose_tree_is_not_built_is_an_error_until_upgrade_builds_it(clone: str, pristine: LedgerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(clone, "DELETE FROM log_tiles")
    code, out, _ = ledger_cli(clone, pristine.key_path, capsys, "verify", "--tenant", "acme")
    assert code == 1 and "ERROR" in out and "BROKEN" not in out and "db upgrade" in out, out
    code, _, err = ledger_cli(clone, pristine.key_path, capsys, "db", "upgrade")
    assert code == 0 and "log tree " in err and "2 tiles written" in err, err
    assert ledger_cli(clone, pristine.key_path, capsys, "verify", "--tenant", "acme")[0] == 0
