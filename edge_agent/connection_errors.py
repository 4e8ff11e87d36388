"""One line saying why talking to a host failed: the broker connection and an HTTP action both say it this way.

For logs, the status message, telemetry and action records, so never a secret: only the host, the port
and what the operating system or the TLS library said. A TLS failure says there is no plaintext fallback,
because there is none (a failed handshake is never retried without TLS).
"""

from __future__ import annotations

import http.client
import socket
import ssl

NO_FALLBACK = " (no plaintext fallback)"
LONGEST = 300  # characters of an unexpected error's text kept


def describe_connection_error(exc: BaseException, host: str, port: int, *, during_tls_handshake: bool = False) -> str:
    """`during_tls_handshake`: the error came while a TLS connection was being set up (a reset then means the
    handshake was refused, not that an established connection dropped)."""
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed for {where}: {exc.verify_message or exc.reason}{NO_FALLBACK}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc}{NO_FALLBACK}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where} (down, or the wrong port)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {host!r}: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"timed out connecting to {where}"
    if isinstance(exc, ConnectionError) and during_tls_handshake:
        return f"TLS handshake with {where} failed: {exc.strerror or exc}{NO_FALLBACK}"
    if isinstance(exc, OSError):
        return f"{where}: {exc.strerror or exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"{where} answered badly: {type(exc).__name__}: {exc}"[:LONGEST]
    return f"{where}: {type(exc).__name__}: {exc}"[:LONGEST]
