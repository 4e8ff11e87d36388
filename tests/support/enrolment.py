"""A broker with the two listeners of docs/platform.md#enrolment, the site CA, and the platform's service."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config import AgentConfig
from edge_agent.enrolment.exchange import mqtt_client
from edge_agent.platform.enrolment_ca import SiteCa
from edge_agent.platform.enrolment_records import EnrolmentRecords
from edge_agent.platform.enrolment_service import EnrolmentService
from tests.support.broker import Mosquitto, free_port, issue_cert, make_ca, write_password_file

ACL = Path(__file__).resolve().parents[2] / "configs" / "mosquitto" / "edge-agent.acl"
BOOTSTRAP_PASSWORD = "site-wide-install-day"


@dataclass
class Site:
    broker: Mosquitto
    ca: SiteCa
    ca_file: Path
    crl_file: Path
    records: EnrolmentRecords
    service: EnrolmentService
    platform_tls: dict
    workdir: Path
    bootstrap_port: int

    @property
    def mtls_port(self) -> int:
        return self.broker.port

    def box_config(self, name: str, serial: str, password: str = BOOTSTRAP_PASSWORD) -> AgentConfig:
        box = self.workdir / name
        box.mkdir()
        (box / "serial").write_text(serial + "\n")
        (box / "bootstrap.pw").write_text(password)
        return AgentConfig.model_validate(
            {
                "device": {"site": "unenrolled", "state_dir": str(box / "state")},
                "mqtt": {
                    "port": self.mtls_port,
                    "tls": {"enabled": True, "ca_file": str(self.ca_file)},
                    "reconnect": {"min_delay": 0.05, "max_delay": 0.3},
                },
                "enrolment": {
                    "enabled": True,
                    "bootstrap_port": self.bootstrap_port,
                    "ca_file": str(self.ca_file),
                    "bootstrap_password_file": str(box / "bootstrap.pw"),
                    "serial_file": str(box / "serial"),
                    "renew_at": 0.5,
                    "retry_interval": 0.5,
                },
            }
        )

    def stop(self) -> None:
        self.service.stop()
        self.records.close()
        self.broker.stop()


def start_site(workdir: Path, lifetime: dt.timedelta, **book_limits: int) -> Site:
    """`book_limits`: EnrolmentRecords' max_pending and max_refusals."""
    ca_file, ca_key = make_ca(workdir / "ca", "site-ca")
    server = issue_cert(workdir / "ca", (ca_file, ca_key), "broker", server=True)
    platform_cert = issue_cert(workdir / "ca", (ca_file, ca_key), "platform", server=False)
    ca = SiteCa(ca_file, ca_key, lifetime)
    crl_file = workdir / "ca" / "crl.pem"
    ca.write_crl(crl_file, [])
    passwords = write_password_file(workdir / "passwords", {"bootstrap": BOOTSTRAP_PASSWORD})
    mtls, bootstrap = free_port(), free_port()
    tls_files = f"cafile {ca_file}\ncertfile {server[0]}\nkeyfile {server[1]}\n"
    broker = Mosquitto(
        workdir / "broker",
        port=mtls,
        extra_config=(
            f"per_listener_settings false\nallow_anonymous false\npassword_file {passwords}\nacl_file {ACL}\n"
            f"listener {mtls} 127.0.0.1\n{tls_files}require_certificate true\nuse_identity_as_username true\n"
            f"crlfile {crl_file}\n"
            f"listener {bootstrap} 127.0.0.1\n{tls_files}"
        ),
    ).start()
    records = EnrolmentRecords(workdir / "enrolment.db", **book_limits)
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(platform_cert[0]), str(platform_cert[1]))
    service = EnrolmentService(mqtt_client("platform-enrolment", context), records, ca).start("127.0.0.1", mtls)
    platform_tls = {"ca_certs": str(ca_file), "certfile": str(platform_cert[0]), "keyfile": str(platform_cert[1])}
    return Site(broker, ca, ca_file, crl_file, records, service, platform_tls, workdir, bootstrap)
