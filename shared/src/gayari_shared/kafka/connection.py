"""How a process reaches Kafka: the bootstrap servers and who it is there.

Every Kafka client of the project (aiokafka producers, consumers, admin clients, the FastStream
broker) is built from one `KafkaConnection` (`CommonSettings.kafka_connection()`), so no client
can connect with other security than the deployment's. The default is SASL_SSL with
SCRAM-SHA-512 as the process's own principal, the broker's certificate verified against a CA
file and its host name; PLAINTEXT only when configured explicitly.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faststream.security import BaseSecurity, SASLScram256, SASLScram512

KafkaSecurityProtocol = Literal["SASL_SSL", "PLAINTEXT"]
ScramMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]


@dataclass(frozen=True)
class KafkaConnection:
    """Picklable (the replay's worker processes get one): the SSL context is made per client."""

    bootstrap_servers: str
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    sasl_mechanism: ScramMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # None: the system's trust store.
    cafile: Path | None = None

    @property
    def secured(self) -> bool:
        return self.security_protocol == "SASL_SSL"

    def ssl_context(self) -> ssl.SSLContext:
        """TLS 1.2+, the broker's certificate checked against the CA and its host name."""
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.cafile) if self.cafile else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        if self.secured:
            options.update(
                security_protocol="SASL_SSL",
                ssl_context=self.ssl_context(),
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The `security=` of a FastStream KafkaBroker (None: plaintext)."""
        if not self.secured:
            return None
        scram = SASLScram512 if self.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
        return scram(
            username=self.username or "", password=self.password or "",
            ssl_context=self.ssl_context(),
        )  # fmt: skip

    def describe(self) -> str:
        """For logs and error messages: never the password."""
        who = f" as {self.username} ({self.sasl_mechanism})" if self.secured else ""
        return f"{self.bootstrap_servers} over {self.security_protocol}{who}"
