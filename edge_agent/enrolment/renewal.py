"""Renewal before expiry, over the box's own certificate (never the bootstrap account).

At `renew_at` of the certificate's life the box makes a new key and CSR, sends it on its own
renew topic (the broker's ACL binds the topic's device id to the certificate's CN), checks the
answer, replaces its identity file in one rename and calls `on_renewed`, which hands the
publisher the new certificate (a new publisher on the same outbox: nothing queued is lost).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from edge_agent.config import AgentConfig
from edge_agent.enrolment import enrol_wire
from edge_agent.enrolment.device_keys import Identity, check_issued, key_fingerprint, make_csr, new_key, write_identity
from edge_agent.enrolment.exchange import ExchangeError, exchange, mqtt_client
from edge_agent.enrolment.first_boot import box_serial, identity_path, server_context

log = logging.getLogger(__name__)


class Renewer:
    def __init__(self, config: AgentConfig, identity: Identity, on_renewed: Callable[[Identity], None]):
        self._config = config
        self.identity = identity
        self._on_renewed = on_renewed
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.last_error: str | None = None

    def start(self) -> Renewer:
        self._thread = threading.Thread(target=self._run, name="enrolment-renewal", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict:
        return {
            "device_id": self.identity.device_id,
            "certificate_not_after": self.identity.not_after.isoformat(),
            "renewals": self.renewals,
            "last_error": self.last_error,
        }

    def _run(self) -> None:
        while not self._stopping.is_set():
            due = self.identity.renew_at(self._config.enrolment.renew_at)
            wait = (due - dt.datetime.now(dt.timezone.utc)).total_seconds()
            if wait > 0 and self._stopping.wait(wait):
                return
            try:
                self.renew_once()
            except (ExchangeError, ValueError, OSError) as exc:
                self.last_error = f"certificate renewal failed: {exc}"
                log.warning(
                    "enrolment: %s; trying again in %gs", self.last_error, self._config.enrolment.retry_interval
                )
                self._stopping.wait(self._config.enrolment.retry_interval)

    def renew_once(self) -> Identity:
        config, settings = self._config, self._config.enrolment
        path = identity_path(config)
        serial = box_serial(config)
        key = new_key()
        prefix, site, device = config.mqtt.topic_prefix, self.identity.site, self.identity.device_id
        request = (
            enrol_wire.renew_topic(prefix, site, device),
            enrol_wire.request_payload(serial, make_csr(key, serial), key_fingerprint(key.public_key())),
        )
        client = mqtt_client(f"{device}-renew", server_context(config, path))
        answer = exchange(
            client,
            config.mqtt.host,
            config.mqtt.port,
            request,
            enrol_wire.cert_topic(prefix, site, device),
            retry=settings.retry_interval,
            deadline=time.monotonic() + 60.0,
            stopping=self._stopping,
        )
        if answer["status"] != enrol_wire.APPROVED:
            raise ValueError(f"the platform {answer['status']} the renewal: {answer.get('reason', '')}")
        cert, identity = check_issued(answer.get("certificate", "").encode(), key, settings.ca_file)
        if (identity.device_id, identity.site) != (device, site):
            raise ValueError(
                f"the renewed certificate is for {identity.device_id}@{identity.site}, not {device}@{site}"
            )
        write_identity(path, key, cert)
        self.identity, self.renewals, self.last_error = identity, self.renewals + 1, None
        log.info("enrolment: certificate renewed, valid until %s", identity.not_after.isoformat())
        self._on_renewed(identity)
        return identity
