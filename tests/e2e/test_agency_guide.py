"""docs/agency-integration.md as a program: its runnable blocks, in order, against the services
as real processes and the real Kafka, each block's effect checked through the APIs.

A block is marked by the HTML comment on the line before its fence: `guide:settings` (what a
reader replaces; the test puts its own values in exactly those names), `guide:run <name>` (run
here, top-level `await` allowed) or `guide:not-run: <why>` (compiled only)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local import principals
from gayari_shared.settings import CommonSettings
from tests.conftest import CREDENTIALS, KeySet
from tests.e2e.conftest import Service

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "agency-integration.md"
AGENCY = "dinsos"
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!-- guide:(settings|run ([\w-]+)|not-run: [^>]+) -->")


@dataclass(frozen=True)
class Block:
    kind: str  # settings | run | not-run
    name: str
    source: str
    line: int

    def compiled(self) -> Any:
        return compile(
            self.source, f"{GUIDE}:{self.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )


def guide_blocks() -> list[Block]:
    text = GUIDE.read_text()
    blocks = []
    for fence in _FENCE.finditer(text):
        line = text.count("\n", 0, fence.start()) + 1
        line_before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.fullmatch(line_before)
        assert marker is not None, f"{GUIDE.name}:{line}: no guide:... marker on the line before"
        kind = marker.group(1).split(":")[0].split()[0]
        blocks.append(Block(kind, marker.group(2) or "", fence.group(1), line + 1))
    return blocks


def settings_names(blocks: list[Block]) -> set[str]:
    names: set[str] = set()
    for block in blocks:
        if block.kind == "settings":
            for node in ast.parse(block.source).body:
                if isinstance(node, ast.Assign):
                    names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def kafka_options(settings: CommonSettings) -> dict[str, Any]:
    """The agency's own Kafka connection, as aiokafka keyword arguments: on the secured stack
    SASL_SSL as its principal (the settings the stack hands it), whose ACLs the services
    fixture applied to this test's topics."""
    own = CREDENTIALS.kafka_env(principals.agency_user(AGENCY))
    if not settings.kafka_connection().secured or not own:
        return settings.kafka_connection().client_options()
    agency = CommonSettings(
        _env_file=None,
        kafka_bootstrap_servers=own["GAYARI_KAFKA_BOOTSTRAP_SERVERS"],
        kafka_sasl_username=own["GAYARI_KAFKA_SASL_USERNAME"],
        kafka_sasl_password_file=Path(own["GAYARI_KAFKA_SASL_PASSWORD_FILE"]),
        kafka_ssl_cafile=Path(own["GAYARI_KAFKA_SSL_CAFILE"]),
    )
    return agency.kafka_connection().client_options()


def test_every_python_block_is_marked_and_compiles() -> None:
    blocks = guide_blocks()
    assert {b.kind for b in blocks} >= {"settings", "run"}
    for block in blocks:
        block.compiled()
    names = [b.name for b in blocks if b.kind == "run"]
    assert len(names) == len(set(names)), "two runnable blocks with one name"
    assert settings_names(blocks) == {
        "REGISTRY_URL",
        "INTERVENTIONS_URL",
        "AGENCY",
        "API_KEY",
        "KAFKA",
        "INTAKE_TOPIC",
    }


def test_readme_links_the_guide() -> None:
    readme = (GUIDE.parents[1] / "README.md").read_text()
    assert "(docs/agency-integration.md)" in readme


class Checks:
    """What each runnable block must have done, seen through the APIs with the agency's key."""

    def __init__(self, http: httpx.AsyncClient, services: dict[str, Service], key: str) -> None:
        self.http, self.services = http, services
        self.headers = {"Authorization": f"Bearer {key}"}
        self.answers: list[httpx.Response] = []

    async def get(self, service: str, path: str, **params: str) -> Any:
        reply = await self.http.get(
            self.services[service].url + path, headers=self.headers, params=params
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def client(self, ns: dict[str, Any]) -> None:
        assert isinstance(ns["http"], httpx.AsyncClient)
        ns["http"].event_hooks["response"].append(self.seen)

    async def seen(self, reply: httpx.Response) -> None:
        """Every answer the guide's client got, retries included."""
        self.answers.append(reply)

    async def register(self, ns: dict[str, Any]) -> None:
        household = await self.get("registry", f"/households/{ns['household_id']}")
        assert household["status"] == "enrolled"
        assert household["enrolments"][-1]["agency"] == AGENCY
        # The enrolment's answer carries the version the next block sends on.
        assert ns["reply"].headers["ETag"] == f'"{household["version"]}"'

    async def grant(self, ns: dict[str, Any]) -> None:
        tries = [a for a in self.answers if a.request.url.path == "/grants"]
        enrolled = next(a for a in self.answers if a.request.url.path.endswith("/enrolment"))
        for reply in tries:  # each attempt carried the enrolment's version, none was refused
            assert reply.request.headers["Gayari-Household-Version"] == enrolled.headers["ETag"]
            assert reply.status_code == 201 or "Retry-After" in reply.headers, reply.text
        grant = await self.get("interventions", f"/grants/{ns['grant_id']}")
        assert grant["household_id"] == ns["household_id"]
        assert (grant["agency"], grant["amount_idr"], grant["void"]) == (AGENCY, 2_500_000, None)

    async def version(self, ns: dict[str, Any]) -> None:
        assert ns["version"] == ns["reply"].headers.get("ETag")

    async def visit_and_survey(self, ns: dict[str, Any]) -> None:
        for kind in ("mentoring-visits", "business-surveys"):
            page = await self.get("interventions", f"/{kind}", household_id=ns["household_id"])
            assert len(page["items"]) == 1, page

    async def idempotency(self, ns: dict[str, Any]) -> None:
        page = await self.get("interventions", "/grants", household_id=ns["household_id"])
        again = [g for g in page["items"] if g["purpose"] == "Modal usaha kue basah"]
        # One: neither the retry nor the key misused for another amount wrote a grant.
        assert len(again) == 1, again
        assert again[0]["id"] == ns["first"].json()["id"]

    async def read(self, ns: dict[str, Any]) -> None:
        page = await self.get("interventions", "/grants", household_id=ns["household_id"])
        assert [g["id"] for g in ns["grants"]] == [g["id"] for g in page["items"]]
        assert ns["grant_id"] in [g["id"] for g in ns["grants"]]
        assert ns["one"]["id"] == ns["grant_id"]

    async def follow(self, ns: dict[str, Any]) -> None:
        assert ns["mirror"][ns["grant_id"]]["void"] is None
        changes = [datetime.fromisoformat(r["changed_at"]) for r in ns["mirror"].values()]
        assert ns["watermark"] == max(changes)

    async def void(self, ns: dict[str, Any]) -> None:
        grant = await self.get("interventions", f"/grants/{ns['grant_id']}")
        assert grant["void"] is not None and grant["void"]["reason"] == "duplicate"
        assert ns["mirror"][ns["grant_id"]]["void"] == grant["void"]

    async def publish(self, ns: dict[str, Any]) -> None:
        assert ns["producer"] is not None

    async def find(self, ns: dict[str, Any]) -> None:
        page = await self.get("interventions", "/grants", external_id=ns["equipment_id"])
        [record] = page["items"]
        assert record == ns["equipment"]
        assert (record["kind"], record["household_id"]) == ("equipment", ns["household_id"])

    async def void_message(self, ns: dict[str, Any]) -> None:
        async with asyncio.timeout(60):
            while True:
                page = await self.get("interventions", "/grants", external_id=ns["equipment_id"])
                if page["items"][0]["void"] is not None:
                    break
                await asyncio.sleep(0.5)
        assert page["items"][0]["void"]["reason"] == "entered-in-error"

    async def void_by_external_id(self, ns: dict[str, Any]) -> None:
        page = await self.get("interventions", "/business-surveys", external_id=ns["survey_ce_id"])
        [survey] = page["items"]
        assert survey["void"] is not None and survey["void"]["reason"] == "entered-in-error"
        assert survey["monthly_income_idr"] == 1_900_000

    async def stop(self, ns: dict[str, Any]) -> None:
        assert ns["http"].is_closed

    def of(self, name: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        check: Callable[[dict[str, Any]], Awaitable[None]] = getattr(self, name.replace("-", "_"))
        return check


async def run(block: Block, namespace: dict[str, Any]) -> None:
    result = eval(block.compiled(), namespace)  # the guide's own code, from the repository
    if inspect.iscoroutine(result):
        await result


@pytest.mark.stack
@pytest.mark.e2e
async def test_the_guide_runs_against_the_services(
    services: dict[str, Service], api_keys: KeySet, isolated_settings: CommonSettings
) -> None:
    blocks = [b for b in guide_blocks() if b.kind == "run"]
    namespace: dict[str, Any] = {
        "__name__": "agency_guide",
        "REGISTRY_URL": services["registry"].url,
        "INTERVENTIONS_URL": services["interventions"].url,
        "AGENCY": AGENCY,
        "API_KEY": api_keys.agencies[AGENCY],
        "KAFKA": kafka_options(isolated_settings),
        "INTAKE_TOPIC": isolated_settings.intake_topic(AGENCY),
    }
    async with httpx.AsyncClient(timeout=10) as http:
        checks = Checks(http, services, api_keys.agencies[AGENCY])
        try:
            for block in blocks:
                await run(block, namespace)
                await checks.of(block.name)(namespace)
                if block.name == "void":
                    # Sent again, as after a lost answer: the 409 is taken as done.
                    await run(block, namespace)
                    await checks.void(namespace)
        finally:  # after a failure, what the guide's last block would have closed
            if "producer" in namespace:
                await namespace["producer"].stop()
            if "http" in namespace:
                await namespace["http"].aclose()
    ran = [b.name for b in blocks]
    assert ran[:3] == ["client", "register", "grant"] and ran[-1] == "stop"
