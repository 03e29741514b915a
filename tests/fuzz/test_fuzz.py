"""Hostile requests at every endpoint of a real ledger: never a 5xx, never a leak, never a change to the chain."""

from __future__ import annotations

import os

from flask import Flask

from tests.conftest import PREFIX, LedgerProcess
from tests.fuzz.fuzzer import ROUTES, World, fuzz


def test_the_fuzzer_covers_every_route_of_the_app(tmp_path: object) -> None:
    from ledger_service.app import create_app
    from ledger_service.config import Settings

    app: Flask = create_app(Settings(database_url=f"sqlite:///{tmp_path}/routes.db", signing_key_path=f"{tmp_path}/key.pem", admin_key="a" * 32))
    rules = {(method, rule.rule.removeprefix(PREFIX)) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    as_rule = {
        "{block_seq}": "<int(max=9223372036854775807):block_seq>",
        "{tile_path}": "<path:tile_path>",
        "{filename}": "<path:filename>",
        "{path}": "<path:path>",
        "{": "<",
        "}": ">",
    }
    fuzzed = set()
    for route in ROUTES:
        rule = route.template
        for placeholder, converter in as_rule.items():
            rule = rule.replace(placeholder, converter)
        fuzzed.add((route.method, rule))
    assert rules == fuzzed


def test_fuzzing_every_endpoint_breaks_nothing(ledger: LedgerProcess) -> None:
    world = World.build(ledger)
    seed = int(os.environ["XASE_FUZZ_SEED"]) if os.environ.get("XASE_FUZZ_SEED") else None
    report = fuzz(world, requests_to_send=1200, random_seed=seed)
    replay = f"XASE_FUZZ_SEED={report.seed} replays this run"
    print(replay)
    assert report.requests >= 1200
    assert report.server_errors == [], (replay, report.server_errors[:5])
    assert report.violations == [], (replay, report.violations[:5])
    assert not report.b_chain_changed, replay
    assert report.a_unacknowledged == [], (replay, report.a_unacknowledged[:5])
    assert report.chains_verify, replay
    verified = ledger.cli("verify", check=False)  # the CLI's verification too: hostile accepted content is a claim at most
    assert verified.returncode in (0, 3) and "BROKEN" not in verified.stdout and "Traceback" not in verified.stderr, (replay, verified.stdout)
    assert len(report.statuses) > 4 and any(status < 300 for status in report.statuses)  # it did reach the handlers
