"""The site CA on the platform: checks a box's CSR, signs its certificate, writes the CRL.

The CA key is read from a file and never logged; the identity in a certificate (CN = device id,
O = site) is the operator's, never the CSR's subject.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge_agent.enrolment.device_keys import key_fingerprint

RESERVED_IDS = frozenset({"platform", "bootstrap"})  # broker accounts: a box named so would act as them


class CsrRefused(ValueError):
    """The CSR is not one we sign; the message says why."""


def check_csr(pem: str) -> tuple[x509.CertificateSigningRequest, str]:
    """(csr, key fingerprint) of a well-formed, self-signed P-256 CSR; raises CsrRefused naming the fault."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise CsrRefused(f"malformed CSR: {exc}") from None
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CsrRefused("the CSR's key is not EC P-256")
    if not csr.is_signature_valid:
        raise CsrRefused("the CSR is not signed by the key it carries (no proof of possession)")
    return csr, key_fingerprint(key)


class SiteCa:
    def __init__(self, cert_file: Path, key_file: Path, lifetime: dt.timedelta):
        self.cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        self._key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        self.lifetime = lifetime

    def sign(self, csr: x509.CertificateSigningRequest, device_id: str, site: str) -> x509.Certificate:
        if device_id in RESERVED_IDS:
            raise CsrRefused(f"device id {device_id!r} is reserved for a broker account")
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, device_id), x509.NameAttribute(NameOID.ORGANIZATION_NAME, site)]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(seconds=1))
            .not_valid_after(now + self.lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        return builder.sign(self._key, hashes.SHA256())

    def write_crl(self, path: Path, revoked_serials: list[int]) -> None:
        """The CRL mosquitto's `crlfile` reads (valid for a day; rewritten at every revocation)."""
        now = dt.datetime.now(dt.timezone.utc)
        builder = x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
        builder = builder.last_update(now - dt.timedelta(minutes=1)).next_update(now + dt.timedelta(days=1))
        for number in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(number).revocation_date(now).build()
            )
        pem = builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        temporary = Path(path).with_suffix(".new")
        temporary.write_bytes(pem)
        os.replace(temporary, path)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
