"""The technician's page on its own threads: uvicorn serving, and a keeper that follows the `web:` section.

The server belongs to the running agent, not to its pipeline: a reload (the page's own Apply
included) rebuilds the pipeline underneath it, and the page's sessions stay logged in. Only a
change of the `web:` section itself restarts the server (and so ends its sessions). The keeper
also restarts a server whose thread died. uvicorn runs its own asyncio loop in its thread; the
agent's main loop never waits on it.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading

from edge_agent.clock import Clock, SystemClock
from edge_agent.config.web import WebConfig
from edge_agent.control import AgentControl

log = logging.getLogger(__name__)

KEEPER_INTERVAL = 1.0
RETRY_AFTER = 30.0  # seconds between attempts to start a server that could not (a busy port, say)
# One technician, a browser or two: 64 connections and requests at once is plenty; beyond it uvicorn answers 503
# rather than letting a flood of connections grow the daemon. Slow clients are cut off (connection.py, guard.py),
# so holding these places takes a steady stream of new connections.
MAX_CONCURRENCY = 64
KEEP_ALIVE = 5.0  # seconds an idle connection is kept between requests
MAX_HEAD = 16 * 1024  # bytes of request line and headers (h11's default, set here so that it stays so)


class WebServer:
    """One uvicorn server on a socket bound here (so a busy port fails now, and port 0 is known at once)."""

    def __init__(self, agent: AgentControl, config: WebConfig, clock: Clock):
        import uvicorn  # only when the page is enabled: the daemon does not pay for it otherwise

        from edge_agent.web.app import create_app
        from edge_agent.web.connection import HeadDeadlineProtocol
        from edge_agent.web.context import build_context

        self.config = config
        self.state_dir = agent.config.device.state_dir
        self.context = build_context(agent, config, clock)
        family = socket.AF_INET6 if ":" in config.bind else socket.AF_INET
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it
        # every answer (head and body written apart) waited ~40 ms on Nagle and the browser's delayed ACK
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((config.bind, config.port))
            # listening from here, so the log line's "served on" holds at once: a client connecting before uvicorn's
            # loop runs waits in the backlog instead of being refused
            self.socket.listen(MAX_CONCURRENCY)
        except OSError:
            self.socket.close()
            raise
        self.port = self.socket.getsockname()[1]
        tls = config.tls
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.context),
                # h11 always (httptools, if installed, would not take the head deadline), no websockets
                http=functools.partial(
                    HeadDeadlineProtocol, head_timeout=config.request_timeout, on_timeout=self._count_head_timeout
                ),
                ws="none",
                # X-Forwarded-For/-Proto only from configured proxies: uvicorn's default believes 127.0.0.1, where
                # every SSH-tunnel client comes from, so anyone could pick the address the login limit counts
                proxy_headers=bool(config.trusted_proxies),
                forwarded_allow_ips=list(config.trusted_proxies),
                limit_concurrency=MAX_CONCURRENCY,
                timeout_keep_alive=KEEP_ALIVE,
                h11_max_incomplete_event_size=MAX_HEAD,
                log_config=None,  # the agent's logging, not uvicorn's own handlers
                access_log=False,  # request lines would flood the journal at live_fps
                ssl_certfile=str(tls.cert_file) if tls.enabled else None,
                ssl_keyfile=str(tls.key_file) if tls.enabled else None,
                server_header=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.config.bind}]" if ":" in self.config.bind else self.config.bind
        return f"{'https' if self.config.tls.enabled else 'http'}://{host}:{self.port}/"

    def _count_head_timeout(self) -> None:
        refused = self.context.refused
        refused["head_timeout"] = refused.get("head_timeout", 0) + 1

    def start(self) -> WebServer:
        from edge_agent.web.page_address import announce, fingerprint

        self._thread.start()
        log.info("web: the technician's page is served on %s", self.url)
        try:
            cert = fingerprint(self.config.tls.cert_file) if self.config.tls.enabled else None
            if cert is not None:
                log.info(
                    "web: the page's TLS certificate, SHA-256 fingerprint %s (compare it with the browser's)", cert
                )
            announce(self.state_dir, self.url, cert)  # for `edge-agent status`
        except (OSError, ValueError) as exc:  # the page serves on; only the note for a technician is missing
            log.warning("web: cannot note the page's address and fingerprint for `edge-agent status`: %s", exc)
        return self

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        from edge_agent.web.page_address import withdraw

        self.server.should_exit = True
        self._thread.join(timeout)
        self.socket.close()
        withdraw(self.state_dir)

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except Exception:
            log.exception("web: the server stopped with an error")


class WebService:
    """Runs a WebServer while `agent.config.web.enabled`; rebuilds it when the section changes or it dies."""

    def __init__(self, agent: AgentControl, clock: Clock | None = None):
        self.agent = agent
        self.clock = clock or SystemClock()
        self.server: WebServer | None = None
        self.restarts = 0
        self._running_config: WebConfig | None = None
        self._failed_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="web-keeper", daemon=True)

    def start(self) -> WebService:
        self.follow()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._stop_server()

    def follow(self) -> None:
        """One keeper round: start, stop or restart the server to match the running config."""
        wanted = self.agent.config.web
        unchanged = wanted == self._running_config
        if self.server is not None and unchanged and self.server.alive():
            return
        if self.server is None and unchanged and self._failed_at is not None:
            if self.clock.monotonic() - self._failed_at < RETRY_AFTER:
                return
        if self.server is not None and unchanged:
            log.error("web: the server thread died; starting it again")
            self.restarts += 1
        self._stop_server()
        self._running_config, self._failed_at = wanted, None
        if not wanted.enabled:
            return
        try:
            self.server = WebServer(self.agent, wanted, self.clock).start()
        except Exception as exc:  # a busy port, an unreadable certificate: the agent runs on without its page
            self._failed_at = self.clock.monotonic()
            log.error("web: the technician's page cannot start (next try in %.0f s): %s", RETRY_AFTER, exc)

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _keep(self) -> None:
        while not self._stop.wait(KEEPER_INTERVAL):
            try:
                self.follow()
            except Exception:
                log.exception("web: keeper round failed")
