"""The holder sees every access ever made (issue 12): newest first, paged by cursor, filtered by time and session."""

from __future__ import annotations

from tests.access.conftest import open_session
from tests.conftest import Api


def _all_pages(holder: Api, dataset_id: str, **params: str) -> list[dict[str, object]]:
    entries, cursor = [], None
    while True:
        page = holder.get(f"/datasets/{dataset_id}/accesses", params={"limit": "7", "receipts": "false", **params,
                                                                       **({"cursor": cursor} if cursor else {})}).json()  # fmt: skip
        assert "accesses" in page, page
        entries += page["accesses"]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if not cursor:
            return entries


def test_every_access_is_listed_once_newest_first(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    first = open_session(consumer, dataset_id)["session_id"]
    for n in range(12):
        assert consumer.get(f"/sessions/{first}/records/p{n % 10}").status_code == 200
    middle = holder.get(f"/datasets/{dataset_id}/accesses", params={"limit": "1"}).json()["accesses"][0]["accessed_at"]
    second = open_session(consumer, dataset_id)["session_id"]
    for n in range(9):
        assert consumer.get(f"/sessions/{second}/records/p{n}").status_code == 200

    log = _all_pages(holder, dataset_id)
    assert len(log) == 1 + 12 + 1 + 9 and len({entry["access_id"] for entry in log}) == len(log)
    times = [entry["accessed_at"] for entry in log]
    assert times == sorted(times, reverse=True)
    assert [entry["session_id"] for entry in log[:10]] == [second] * 10
    assert len(_all_pages(holder, dataset_id, session_id=first)) == 13
    recent = _all_pages(holder, dataset_id, since=middle)
    assert all(entry["accessed_at"] >= middle for entry in recent) and len(recent) >= 10


def test_bad_cursors_and_times_are_400s(shared: tuple[Api, Api, str]) -> None:
    holder, _consumer, dataset_id = shared
    for params in ({"cursor": "acur_bm90IGEgY3Vyc29y"}, {"cursor": "x"}, {"since": "yesterday"}, {"since": "2026-12-01T00:00:00"},
                   {"limit": "1001"}):  # fmt: skip
        response = holder.get(f"/datasets/{dataset_id}/accesses", params=params)
        assert response.status_code == 400, (params, response.text)
    assert holder.get(f"/datasets/{dataset_id}/accesses", params={"since": "2026-12-01T00:00:00+01:00"}).status_code == 200
