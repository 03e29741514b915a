"""The documentation: the site builds with `mkdocs build --strict` (every page in the nav, every link and anchor
resolving, the API reference rendered from the docstrings), and every relative link of the README leads somewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strict_with_the_api_reference(tmp_path: Path) -> None:
    pytest.importorskip("mkdocstrings", reason="the dev extra (mkdocs, mkdocs-material, mkdocstrings) is not installed")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "record_oversight" in api and "XaseSpanExporter" in api and "check_report" in api
    pages = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M))
    assert pages == {path.name for path in (ROOT / "docs").glob("*.md")}, "every page of docs/ is in the nav, and only those"


def test_the_readme_is_a_front_page_whose_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
