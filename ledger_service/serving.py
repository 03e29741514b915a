"""Production serving: gunicorn with several worker processes, started by `xase-ledger serve --workers N`.

The app is built once in the master (migrations, signing key, key registration
happen once), then workers fork; each worker drops the connections it inherited
so no database socket is ever shared between processes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from flask import Flask
from gunicorn.app.base import BaseApplication

from ledger_service.app import create_app
from ledger_service.config import Settings
from ledger_service.metrics import MULTIPROCESS_ENV, use_multiprocess_dir

__all__ = ["serve"]


class _LedgerApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return self._app


def serve(settings: Settings, workers: int, threads: int = 8, port_file: Optional[str] = None) -> None:
    """Serve with gunicorn. Metrics are summed over the workers through PROMETHEUS_MULTIPROC_DIR
    (a fresh temporary directory unless it is set; emptied at start either way)."""
    own_metrics_dir = not os.environ.get(MULTIPROCESS_ENV)
    metrics_dir = Path(tempfile.mkdtemp(prefix="xase-metrics-")) if own_metrics_dir else Path(os.environ[MULTIPROCESS_ENV])
    use_multiprocess_dir(metrics_dir)
    app = create_app(settings)
    engine = app.extensions["xase"].engine

    def post_fork(_server: Any, _worker: Any) -> None:
        engine.dispose(close=False)  # the parent's pooled connections are not ours to use

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    def on_exit(_server: Any) -> None:
        if own_metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def when_ready(server: Any) -> None:
        port = server.LISTENERS[0].sock.getsockname()[1]
        if port_file:
            Path(port_file).write_text(str(port))
        print(f"xase-ledger listening on http://{settings.host}:{port}/api/xase/v1 with {workers} workers", flush=True)

    engine.dispose()  # nothing pooled in the master before forking
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 15,
        "keepalive": settings.keepalive,  # gunicorn's 2 s closes connections clients still hold (aiohttp: 15 s)
        "post_fork": post_fork,
        "child_exit": child_exit,
        "on_exit": on_exit,
        "when_ready": when_ready,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }
    _LedgerApplication(app, options).run()
