"""The platform's enrolment service: takes CSRs off the wire, answers decisions, renews enrolled boxes.

Bootstrap requests are only recorded (an operator approves each serial, `platform enroll approve`);
renewals arrive on a device's own topic, which the broker lets only that certificate's CN publish, so
they are signed at once for an approved, unrevoked box. Bad input is refused, recorded and answered.
"""

from __future__ import annotations

import logging
import threading
import time

from edge_agent.enrolment import enrol_wire
from edge_agent.enrolment.hardware_serial import valid_serial
from edge_agent.platform.enrolment_ca import CsrRefused, SiteCa, check_csr, pem
from edge_agent.platform.enrolment_records import EnrolmentRecords

log = logging.getLogger(__name__)


class EnrolmentService:
    def __init__(self, client, records: EnrolmentRecords, ca: SiteCa, prefix: str = "edge"):
        self._client = client  # a paho client, connected by the caller's settings (the platform's account)
        self._records = records
        self._ca = ca
        self._prefix = prefix
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.refusals = 0

    def start(self, host: str, port: int) -> EnrolmentService:
        filters = (f"{self._prefix}/enrol/+/request", f"{self._prefix}/+/+/enrol/renew")
        self._client.on_connect = lambda c, *a: [c.subscribe(f, qos=1) for f in filters]
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._send_decisions, name="enrolment-replies", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def _send_decisions(self) -> None:
        while not self._stopping.wait(0.2):
            for request in self._records.unsent():
                status = enrol_wire.APPROVED if request["state"] == "approved" else enrol_wire.REJECTED
                payload = enrol_wire.reply_payload(
                    request["serial"], request["fingerprint"], status, request["certificate"], request["reason"]
                )
                self._client.publish(
                    enrol_wire.reply_topic(self._prefix, request["serial"]), payload, qos=1, retain=True
                )
                self._records.mark_sent(request["serial"])
                log.info("enrolment: sent the %s answer to serial %s", status, request["serial"])

    def _on_message(self, client, userdata, message) -> None:
        levels = message.topic.split("/")
        try:
            if levels[-1] == "request" and len(levels) == 4:
                self._bootstrap_request(levels[2], bytes(message.payload))
            elif levels[-1] == "renew" and len(levels) == 5:
                self._renewal(levels[1], levels[2], bytes(message.payload))
        except (ValueError, CsrRefused) as exc:
            self.refusals += 1
            serial = levels[2] if len(levels) > 2 else None
            reason = _text(str(exc))  # a sender's lone surrogate ("\udc80" in JSON) is no text SQLite can store
            try:
                self._records.refused(serial, message.topic, reason)
            except Exception:  # never out of paho's callback: that would end the service's network thread
                log.exception("enrolment: could not record the refusal of a request on %s", message.topic)
            log.warning("enrolment: refused a request on %s: %s", message.topic, reason)
        except Exception:  # a bug here must not end the network thread (no box could enrol after it)
            self.refusals += 1
            log.exception("enrolment: a request on %s failed", message.topic)

    def _bootstrap_request(self, serial: str, payload: bytes) -> None:
        body = enrol_wire.parse_message(payload, ("serial", "csr", "fingerprint"))
        if body["serial"] != serial or not valid_serial(serial):
            raise ValueError(f"serial {body['serial']!r} in the message is not the topic's {serial!r}")
        _, fingerprint = check_csr(body["csr"])
        if body["fingerprint"] != fingerprint:
            raise CsrRefused(f"the CSR is for key {fingerprint}, not the key {body['fingerprint']} the box names")
        known = self._records.request(serial)
        if known is None:
            self._records.add_pending(serial, fingerprint, body["csr"])
            log.info(
                "enrolment: serial %s asks to enrol (key %s); approve with `platform enroll approve`",
                serial,
                fingerprint,
            )
        elif known["fingerprint"] != fingerprint:
            reason = f"serial {serial} already has a request ({known['state']}) with another key"
            self._refuse(enrol_wire.reply_topic(self._prefix, serial), serial, fingerprint, reason)
            raise CsrRefused(reason)
        elif known["state"] in ("approved", "rejected"):
            self._records.resend(serial)  # the box lost our answer (restarted before it came)

    def _renewal(self, site: str, device_id: str, payload: bytes) -> None:
        body = enrol_wire.parse_message(payload, ("serial", "csr", "fingerprint"))
        known = self._records.by_device(device_id)
        topic = enrol_wire.cert_topic(self._prefix, site, device_id)
        if known is None or known["state"] != "approved" or known["site"] != site:
            raise CsrRefused(f"device {device_id} at {site} is not an enrolled box")
        last, least = self._records.last_issued_at(device_id), self._ca.lifetime.total_seconds() / 10
        if last is not None and time.time() - last < least:  # a box renews at two-thirds of its certificate's life
            raise CsrRefused(
                f"renewal of {device_id} refused: its certificate was issued {time.time() - last:.0f} s ago, "
                f"none comes before a tenth of the lifetime ({least:.0f} s)"
            )
        csr, fingerprint = check_csr(body["csr"])
        if body["fingerprint"] != fingerprint:
            raise CsrRefused(f"the CSR is for key {fingerprint}, not the key {body['fingerprint']} the box names")
        cert = self._ca.sign(csr, device_id, site)
        self._records.renewed(known["serial"], fingerprint, pem(cert), str(cert.serial_number))
        self._records.issued(device_id, str(cert.serial_number))
        self._client.publish(
            topic, enrol_wire.reply_payload(known["serial"], fingerprint, enrol_wire.APPROVED, pem(cert)), qos=1
        )
        log.info("enrolment: renewed %s at %s until %s", device_id, site, cert.not_valid_after_utc.isoformat())

    def _refuse(self, topic: str, serial: str, fingerprint: str, reason: str) -> None:
        self._client.publish(
            topic, enrol_wire.reply_payload(serial, fingerprint, enrol_wire.REFUSED, reason=reason), qos=1
        )


def _text(value: str) -> str:
    """`value` as storable UTF-8 text: lone surrogates written as \\udcXX."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
