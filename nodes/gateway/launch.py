"""`make run`'s part of issue #18: the payment gateway stand-in as a child process, its key
registered with every node, and a small demo on a new consortium — an arrival manifest and a
departure manifest lodged at the first member, a declaration citing the arrival manifest's
first line, its duties paid through the gateway.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx

from chain.devnet import port_is_free
from chain.errors import PortInUse
from nodes.gateway.app import register_with_node
from offchain.errors import OffchainError
from offchain.manifests import load_manifest
from offchain.settings import REPO_ROOT, MemberConfig, Settings

EXAMPLES = REPO_ROOT / "examples" / "manifests"
DEMO_DECLARATION = "declaration-bearings-bl.json"


def process_member(settings: Settings) -> MemberConfig:
    """How the launcher's process list names the gateway (it serves no member)."""
    return MemberConfig(
        id="STAND-IN", name="payment gateway stand-in", api_port=settings.payments.gateway_port
    )


def serve_args() -> list[str]:
    return ["gateway", "serve"]


def check_port(settings: Settings) -> None:
    p = settings.payments
    if not port_is_free(p.gateway_host, p.gateway_port):
        raise PortInUse(
            f"{p.gateway_host}:{p.gateway_port} (payment gateway stand-in) is already in use; "
            "stop that process or set SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT"
        )


def register_everywhere(settings: Settings, say: Callable[[str], None]) -> list[str]:
    """Register the stand-in's public key with every node (each node's admin key)."""
    done = []
    for m in settings.members:
        key_file = settings.node_dir(m.id) / "admin.apikey"
        try:
            register_with_node(settings, m.id, key_file.read_text().strip())
            done.append(m.id)
        except (OSError, OffchainError, httpx.HTTPError) as exc:
            say(f"[yellow]gateway key not registered with {m.id}: {exc}[/]")
    if done:
        say(f"payment gateway stand-in registered with {', '.join(done)}")
    return done


def _dated(name: str, arrival_in: dt.timedelta) -> dict[str, Any]:
    doc = load_manifest((EXAMPLES / name).read_bytes()).manifest.to_json()
    arrival = dt.datetime.now(dt.UTC).replace(microsecond=0) + arrival_in
    doc["arrival"] = arrival.isoformat()
    doc["departure"] = (arrival - dt.timedelta(days=3)).isoformat()
    return doc


def seed_demo(settings: Settings, say: Callable[[str], None]) -> dict[str, Any]:
    """On a new consortium (no manifest at the first node yet): the demo described above."""
    first = settings.members[0]
    key = (settings.node_dir(first.id) / "admin.apikey").read_text().strip()
    out: dict[str, Any] = {"manifests": []}
    with httpx.Client(
        base_url=settings.node_url(first.id), headers={"X-API-Key": key}, timeout=60.0
    ) as node:
        if node.get("/manifests", params={"limit": 1}).json():
            return {}
        for name, ahead in (
            ("sea-import-sgsin-twkel.xml", dt.timedelta(days=1)),
            ("sea-export-twkel-sgsin.xml", dt.timedelta(days=4)),
        ):
            resp = node.post("/manifests", json=_dated(name, ahead))
            body = resp.json()
            if resp.status_code not in (200, 201):
                say(f"[yellow]demo manifest {name} refused: {body.get('detail')}[/]")
                continue
            out["manifests"].append(
                {"file": name, "manifest": body["manifest"], "type": body["type"],
                 "pre_arrival": body["pre_arrival"], "forwarded_to": body["forwarded_to"]}
            )  # fmt: skip
        decl = json.loads((EXAMPLES / DEMO_DECLARATION).read_text())
        decl["date"] = dt.date.today().isoformat()
        resp = node.post("/declarations", json=decl)
        body = resp.json()
        if resp.status_code not in (200, 201):
            say(f"[yellow]demo declaration citing the manifest refused: {body.get('detail')}[/]")
            return out
        order = body.get("payment")
        out["declaration"] = {
            "declaration": body["declaration"],
            "channel": body["channel"],
            "manifest": [line["status"] for line in (body.get("manifest") or {}).get("lines", [])],
            "order": order and order["reference"],
        }
        if order is None:
            return out
        paid = httpx.post(
            settings.payments.gateway_url + "/pay",
            json={"member": first.id, "order": order["reference"], "amount": order["amount"],
                  "currency": order["currency"], "payer": {"name": order["importer_name"],
                  "id": order["importer_id"], "id_scheme": order["importer_scheme"]}},
            timeout=60.0,
        )  # fmt: skip
        result = paid.json()
        if paid.status_code != 200:
            say(f"[yellow]demo payment refused: {result.get('detail')}[/]")
            return out
        status = node.get(f"/declarations/{body['declaration']}/status").json()
        out["payment"] = {
            "transaction": result["transaction"],
            "status": result["status"],
            "receipt": result["receipt"],
            "release": status["release"]["state"],
        }
    say(
        f"demo: manifests {', '.join(m['manifest'] for m in out['manifests'])}; declaration "
        f"{out['declaration']['declaration']} paid through the gateway "
        f"({out['payment']['status']}), {out['payment']['release']}"
    )
    return out
