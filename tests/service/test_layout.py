"""The import rules of docs/architecture.md, checked on the source: imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ledger_service"
SHARED = {"config", "db", "errors", "auth", "tables", "web", "metrics", "workers"}
COMPOSITION = {"app", "cli", "serving", "health", "admin_api", "tenants", "schema", "verification", "explanations", "reports", "report_page", "console"}
SUBSYSTEMS = {"evidence", "access", "knowledge", "contexts", "oversight"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every ledger_service module a file imports, `from a import b` counted as a.b when b is a module."""
    modules = _modules()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in modules)
    return {name for name in names if name.startswith("ledger_service")}


def _part(module: str) -> str:
    """Which part of the layout a module belongs to: a top-level name, or its subpackage."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ledger_service"


def _allowed(importer: str, imported: str) -> bool:
    source, target = _part(importer), _part(imported)
    if target in SHARED or target == "ledger_service" or source == target:
        return True
    if source in COMPOSITION:
        return True
    if source in SHARED:
        return False
    if source == "query":
        return False
    if target == "query":
        return imported in ("ledger_service.query",) and source in SUBSYSTEMS
    if target in SUBSYSTEMS:
        return source in SUBSYSTEMS and imported == f"ledger_service.{target}"  # only the public names
    return False  # composition is never imported from below


def test_every_top_level_part_is_classified() -> None:
    parts = {_part(module) for module in _modules()} - {"ledger_service"}
    assert parts <= SHARED | COMPOSITION | SUBSYSTEMS | {"query"}, parts - (SHARED | COMPOSITION | SUBSYSTEMS | {"query"})


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_point_down_only(module: str) -> None:
    wrong = sorted(name for name in _imports(_modules()[module]) if not _allowed(module, name))
    assert not wrong, f"{module} imports {wrong}, against docs/architecture.md"


def test_the_checker_catches_a_sideways_import() -> None:
    assert not _allowed("ledger_service.access.sessions", "ledger_service.evidence.chain")
    assert not _allowed("ledger_service.auth", "ledger_service.evidence")
    assert not _allowed("ledger_service.query.filters", "ledger_service.access.tables")
    assert not _allowed("ledger_service.evidence.audit", "ledger_service.app")
    assert _allowed("ledger_service.access.sessions", "ledger_service.evidence")


def _sdk_imports(path: Path) -> set[str]:
    """Every xase module or name a file imports (`from xase import a` counted as xase.a)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("xase"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "xase":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", sorted(_modules()))
def test_the_ledger_uses_only_the_sdk_s_public_modules(module: str) -> None:
    """The SDK is the ground floor of the server; its private modules (xase._*) are not part of the contract."""
    private = sorted(name for name in _sdk_imports(_modules()[module]) if any(part.startswith("_") and part != "__version__" for part in name.split(".")))
    assert not private, f"{module} imports the SDK's private {private}"


def test_the_format_loads_without_the_http_client() -> None:
    """An auditor's verifier and the ledger need hashes and signatures, not requests and tenacity."""
    import subprocess
    import sys

    probe = "import sys, xase.evidence, xase.tlog, xase.note, xase.tlogproof, xase.wire; print(sorted({'requests', 'tenacity'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
