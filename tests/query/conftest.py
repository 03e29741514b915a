"""Fixtures of the query engine's tests: a table of JSON documents on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from tests.conftest import BACKENDS, PostgresDatabase
from tests.query.json_reference import Documents


@pytest.fixture(scope="module", params=BACKENDS)
def documents(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Documents]:
    database = PostgresDatabase() if request.param == "postgresql" else None
    url = database.url if database else f"sqlite:///{tmp_path_factory.mktemp('query') / 'docs.db'}"
    engine = create_engine(url)
    yield Documents(engine)
    engine.dispose()
    if database:
        database.drop()
