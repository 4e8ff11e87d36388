"""The operator's side of enrolment: approve (sign), reject, revoke (CRL). The service sends the replies."""

from __future__ import annotations

import re
from pathlib import Path

from edge_agent.platform.enrolment_ca import CsrRefused, SiteCa, check_csr, pem
from edge_agent.platform.enrolment_records import EnrolmentRecords, UnknownSerial

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # config/device.py's device id and site


def approve(records: EnrolmentRecords, ca: SiteCa, serial: str, device_id: str, site: str, by: str) -> dict:
    """Sign the pending CSR of `serial` as `device_id` at `site`; raises UnknownSerial or CsrRefused."""
    for name, value in (("device id", device_id), ("site", site)):
        if not ID_PATTERN.match(value):
            raise CsrRefused(f"{name} {value!r} is not a valid id (letters, digits, _ . -; up to 64)")
    request = records.request(serial)
    if request is None or request["state"] not in ("pending", "approved"):
        state = request["state"] if request else "no request"
        raise UnknownSerial(f"serial {serial!r} has no pending enrolment request ({state})")
    holder = records.by_device(device_id)
    if holder is not None and holder["serial"] != serial:
        raise CsrRefused(f"device id {device_id!r} is already the box with serial {holder['serial']!r}")
    csr, _ = check_csr(request["csr"])
    cert = ca.sign(csr, device_id, site)
    records.decide(
        serial,
        "approved",
        by,
        device_id=device_id,
        site=site,
        certificate=pem(cert),
        cert_serial=str(cert.serial_number),
    )
    records.issued(device_id, str(cert.serial_number))
    return records.request(serial)


def reject(records: EnrolmentRecords, serial: str, by: str, reason: str) -> None:
    records.decide(serial, "rejected", by, reason=reason)


def revoke(records: EnrolmentRecords, ca: SiteCa, device_id: str, crl_file: Path) -> list[str]:
    """Revoke every certificate issued to `device_id` and rewrite the CRL (then SIGHUP the broker)."""
    serials = records.issued_serials(device_id)
    if not serials:
        raise UnknownSerial(f"no certificate was issued to device {device_id!r}")
    records.revoke(device_id, serials)
    ca.write_crl(crl_file, records.revoked_serials())
    return serials
