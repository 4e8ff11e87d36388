"""The box's key pair, its CSR and the certificate the platform returns (EC P-256, PEM).

The key never leaves the box: it is written 0600 beside the certificate in one PEM file, so a
renewal replaces key and certificate together with one rename (the publisher reads both from it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: ec.EllipticCurvePrivateKey, serial: str) -> bytes:
    """A CSR signed by `key` (proof of possession); its subject is only a hint, the platform sets the identity."""
    subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)])
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def key_fingerprint(public_key) -> str:
    """SHA-256 of the DER public key, first 16 hex digits: what the box logs and `enroll list` shows."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class Identity:
    """Who the platform says this box is, read from its certificate (CN = device id, O = site)."""

    device_id: str
    site: str
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def of(cls, cert: x509.Certificate) -> Identity:
        def name(oid) -> str:
            values = cert.subject.get_attributes_for_oid(oid)
            if not values:
                raise ValueError(f"the certificate has no {oid._name}")
            return str(values[0].value)

        return cls(
            name(NameOID.COMMON_NAME),
            name(NameOID.ORGANIZATION_NAME),
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
        )

    def renew_at(self, fraction: float) -> dt.datetime:
        return self.not_before + (self.not_after - self.not_before) * fraction


def check_issued(cert_pem: bytes, key: ec.EllipticCurvePrivateKey, ca_file: Path) -> tuple[x509.Certificate, Identity]:
    """The certificate is for our key and signed by the site CA; raises ValueError saying which check failed."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise ValueError(f"the reply's certificate does not parse: {exc}") from None
    if key_fingerprint(cert.public_key()) != key_fingerprint(key.public_key()):
        raise ValueError("the certificate is for another key than this box's")
    ca = x509.load_pem_x509_certificate(Path(ca_file).read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
    except Exception as exc:
        raise ValueError(f"the certificate is not signed by the site CA {ca_file}: {exc}") from None
    return cert, Identity.of(cert)


def write_identity(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    """Key and certificate in one 0600 PEM file, replaced atomically (a reader sees the old pair or the new)."""
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_pem + cert.public_bytes(serialization.Encoding.PEM))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def read_identity(path: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Identity] | None:
    """The stored key, certificate and identity; None when the box has not enrolled yet."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    key = serialization.load_pem_private_key(data, password=None)
    cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----") :])
    return key, cert, Identity.of(cert)
