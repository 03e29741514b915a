"""The console's tests drive Debian's Chromium with Playwright (no browser is downloaded) on loopback, where
WebCrypto has its secure context: one browser per test module, a fresh context (cookies, viewport) per Console,
and every console error, page error or dialog kept so that a test can assert there was none."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LedgerProcess

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")


class Console:
    def __init__(self, browser: Any, ledger: LedgerProcess, key: str, shots: Path, **context: Any) -> None:
        self.root, self.key, self.shots = f"http://127.0.0.1:{ledger.port}/console", key, shots
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda message: self.problems.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on("dialog", lambda dialog: self.problems.append(f"a dialog opened: {dialog.message}"))

    def sign_in(self) -> None:
        self.page.goto(self.root + "/login")
        self.page.fill("#api_key", self.key)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.root + "/decisions")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
