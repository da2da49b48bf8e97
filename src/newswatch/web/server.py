"""Running the workbench: :func:`serve_web` (blocking, Ctrl-C safe).

    newswatch web [--host 127.0.0.1] [--port 8080] [--config DIR] [--db TARGET]
    python -m newswatch.web …          (the same, without the CLI)

It binds the socket itself (so ``port=0`` takes a free port and the real address is
printed), refuses a non-loopback address without ``NEWSWATCH_WEB_PASSWORD``, and runs
uvicorn on it until SIGINT or SIGTERM. Queued verdicts are written before it returns.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from newswatch.web.security import PASSWORD_ENV, check_bind

__all__ = ["DEFAULT_PORT", "bind", "serve_web"]

DEFAULT_PORT = 8080


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        from newswatch.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve_web(
    config_dir: str | Path | None = None,
    db: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    password: str | None = None,
    user: str | None = None,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
    install_signal_handlers: bool = True,
) -> None:
    """Serve the workbench until interrupted. ``on_ready(url)`` is called once it listens
    (default: print ``newswatch web: <url>`` to standard error). Raises ConfigError for a
    bad configuration (the watchlist included) or a non-loopback host without a password,
    before binding."""
    import uvicorn

    from newswatch.web.app import create_app

    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    check_bind(host, password)
    app = create_app(config_dir, db, password=password, user=user)
    # a broken watchlist stops the start, as it stops every other command: served, it would
    # only show as pages without names and an empty bench (the compiled one is kept)
    app.state.wb.matcher()
    sock = bind(host, port)
    url = address(sock)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    started = server.startup

    async def startup(sockets: Any = None) -> None:
        await started(sockets=sockets)
        if on_ready is not None:
            on_ready(url)
        else:
            print(f"newswatch web: {url}", file=sys.stderr, flush=True)

    server.startup = startup  # type: ignore[method-assign]
    if not install_signal_handlers:
        server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    previous = None
    if install_signal_handlers and threading.current_thread() is threading.main_thread():
        # uvicorn shuts down on SIGTERM, then raises it again: end as for Ctrl-C (exit 0)
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
