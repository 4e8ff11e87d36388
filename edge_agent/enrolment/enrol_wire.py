"""The enrolment topics and messages, shared by the box and the platform (docs/mqtt-api.md#enrolment).

Bootstrap (site-wide account, the client id is the serial, the broker's ACL binds both topics to it):
  {prefix}/enrol/{serial}/request   box -> platform  {"serial", "csr", "fingerprint"}
  {prefix}/enrol/{serial}/reply     platform -> box  {"serial", "status", "certificate"?, "reason"?} (retained)
Renewal (the box's own certificate, so the topic's device id is the broker-checked CN):
  {prefix}/{site}/{device}/enrol/renew   box -> platform  {"serial", "csr", "fingerprint"}
  {prefix}/{site}/{device}/enrol/cert    platform -> box  {"serial", "status", "certificate"?, "reason"?}
"""

from __future__ import annotations

import json

APPROVED, REJECTED, REFUSED = "approved", "rejected", "refused"
MAX_MESSAGE_BYTES = 16 * 1024  # a P-256 CSR is under 1 KiB; anything this big is not one


def request_topic(prefix: str, serial: str) -> str:
    return f"{prefix}/enrol/{serial}/request"


def reply_topic(prefix: str, serial: str) -> str:
    return f"{prefix}/enrol/{serial}/reply"


def renew_topic(prefix: str, site: str, device_id: str) -> str:
    return f"{prefix}/{site}/{device_id}/enrol/renew"


def cert_topic(prefix: str, site: str, device_id: str) -> str:
    return f"{prefix}/{site}/{device_id}/enrol/cert"


def request_payload(serial: str, csr_pem: bytes, fingerprint: str) -> str:
    return json.dumps({"serial": serial, "csr": csr_pem.decode(), "fingerprint": fingerprint})


def reply_payload(
    serial: str, fingerprint: str, status: str, certificate: str | None = None, reason: str | None = None
) -> str:
    """`fingerprint`: the key the answer is for; a box ignores answers for another key (another box's attempt)."""
    body = {"serial": serial, "fingerprint": fingerprint, "status": status}
    if certificate is not None:
        body["certificate"] = certificate
    if reason is not None:
        body["reason"] = reason
    return json.dumps(body)


def parse_message(payload: bytes, required: tuple[str, ...]) -> dict:
    """A JSON object with string `required` fields; raises ValueError naming what is wrong."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(payload)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    for name in required:
        if not isinstance(body.get(name), str):
            raise ValueError(f"field {name!r} is missing or not a string")
    return body
