"""The clearance service of a node: a declaration in, an attested channel decision out.

The node does not decide: it asks the consortium's clearance oracle instances (one per
member) through the aggregator, which submits the k-of-n signed result to AttestationHub.
Then, if every permit check passed, the permits are drawn down on chain for this
declaration (all lines or none), and the decision is kept in the node's database.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from decimal import Decimal
from functools import cached_property
from typing import Any

from chain.context import Chain
from chain.errors import ChainError, ContractReverted
from nodes.clearance.hooks import ClearanceHook
from offchain import attestation as att
from offchain.db import Database
from offchain.declarations import (
    Declaration,
    declaration_hash,
    load_declaration_json,
    load_declaration_xml,
)
from offchain.hexbytes import hex0x
from offchain.keystore import role_account_name
from offchain.outbox import utc_now
from offchain.permits import permit_id_bytes
from offchain.settings import Settings
from offchain.tariff import TariffError, TariffTable
from offchain.xmlsafe import XmlLimits
from oracles.aggregator import Aggregator
from oracles.base import OracleError
from oracles.clearance.selectivity import Channel
from oracles.instances import instance_url
from oracles.service import HttpInstance
from oracles.xray.service import latest_attested_scan

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE declarations (
        declaration_id TEXT PRIMARY KEY,
        declaration_hash TEXT NOT NULL,
        channel TEXT NOT NULL,
        decision TEXT NOT NULL,
        attestation TEXT NOT NULL,
        draws TEXT NOT NULL,
        reroutes TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    )
    """,
]


class ClearanceError(OracleError):
    """A declaration or re-route this node refuses (statuses: HTTP_STATUS["clearance_error"])."""

    code = "clearance_error"


class ClearanceService:
    def __init__(
        self,
        settings: Settings,
        member_id: str,
        chain: Chain,
        db: Database,
        instances: list | None = None,
    ) -> None:
        self.settings = settings
        self.member_id = member_id
        self.chain = chain
        self.db = db
        db.migrate("nodes.clearance", MIGRATIONS)
        self._instances = instances
        self._aggregator: Aggregator | None = None
        self.hooks: list[ClearanceHook] = []  # manifests, payments (nodes/context.py)
        self.limits = XmlLimits.from_settings(settings.documents)

    @property
    def aggregator(self) -> Aggregator:
        if self._aggregator is None:
            instances = self._instances or [
                HttpInstance(
                    m.id,
                    instance_url(self.settings, m.id),
                    timeout_s=self.settings.clearance.oracle_timeout_s,
                )
                for m in self.settings.members
                if "ORACLE_OPERATOR" in m.roles
            ]
            self._aggregator = Aggregator(
                instances,
                self.chain.attestations,
                self._operator(),
                quorum=self.chain.attestations.quorum,
                timeout_s=self.settings.clearance.oracle_timeout_s,
                member_active=self.chain.registry.is_active_member,
            )
        return self._aggregator

    def _operator(self):
        return self.chain.sender(role_account_name(self.member_id, "ORACLE_OPERATOR"))

    @cached_property
    def currency(self) -> str:
        """What duties are computed and paid in (the oracle converts the declared values
        with the declaration's exchange rate): `payments.currency`, else the tariff
        table's currency, else TWD."""
        if self.settings.payments.currency:
            return self.settings.payments.currency
        return TariffTable.load(self.settings.clearance.tariff_dir).currency or "TWD"

    def _with_currency(self, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "duties": {**row["duties"], "currency": self.currency}}

    def parse(self, body: bytes, content_type: str) -> Declaration:
        if "xml" in content_type:
            return load_declaration_xml(body, self.limits)
        return load_declaration_json(body)

    def declare(
        self, decl: Declaration, user: str, *, oracle_results: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Attest the clearance decision; draw down permits; keep and return the decision."""
        existing = self.get(decl.declaration_id)
        if existing is not None:
            if existing["declaration_hash"] != hex0x(declaration_hash(decl)):
                raise ClearanceError(
                    "declaration_exists",
                    f"declaration {decl.declaration_id} was already lodged with other content; "
                    "amend it under a new declaration id",
                )
            return self._after(decl, {**existing, "duplicate": True})
        self._check_codes(decl)
        decl_json = json.loads(decl.model_dump_json())
        if oracle_results is None:
            oracle_results = self.pre_clearance(decl_json)
        request = {"declaration": decl_json, "oracles": oracle_results}
        for hook in self.hooks:
            extra = hook.before(decl)
            if extra is not None:
                request[hook.name] = extra
        try:
            done = self.aggregator.attest(int(att.CLEARANCE), request)
        except BaseException:
            for hook in self.hooks:
                hook.abandon(decl)
            raise
        decision = done.result.output
        try:
            draws = self._draw_down(decl, decision)
            draw_error = None
        except ClearanceError as exc:
            # The decision is on chain already: keep it (so lodging again does not attest
            # again) and say plainly that the permits were not drawn.
            draws, draw_error = [], exc.detail
        out = {
            "declaration": decl.declaration_id,
            "declaration_hash": decision["declaration_hash"],
            "channel": decision["channel"],
            "duties": {**decision["duties"], "currency": self.currency},
            "reasons": decision["reasons"],
            "permits": decision["permits"],
            "documents": decision["documents"],
            "audit_candidate": decision["audit_candidate"],
            "oracles": oracle_results,
            "attestation": {
                **done.to_json(),
                "kind": "CLEARANCE",
                "subject": decision["declaration_hash"],
            },
            "permit_draws": draws,
        }
        if draw_error:
            out["permit_draw_error"] = draw_error
        self.db.execute(
            "INSERT INTO declarations (declaration_id, declaration_hash, channel, decision,"
            " attestation, draws, created_at, created_by) VALUES (?,?,?,?,?,?,?,?)",
            (
                decl.declaration_id,
                out["declaration_hash"],
                out["channel"],
                json.dumps({**decision, "declaration": request["declaration"]}),
                json.dumps(out["attestation"]),
                json.dumps(draws),
                utc_now(),
                user,
            ),
        )
        return self._after(decl, out)

    def _after(self, decl: Declaration, out: dict[str, Any]) -> dict[str, Any]:
        for hook in self.hooks:
            out.update(hook.after(decl, out))
        return out

    def _check_codes(self, decl: Declaration) -> None:
        """Refuse unknown HS codes before any oracle attests anything about the declaration."""
        table = TariffTable.load(self.settings.clearance.tariff_dir)
        for item in decl.items:
            try:
                table.lookup(item.hs_code)
            except TariffError as exc:
                raise ClearanceError(exc.code, f"item {item.sequence}: {exc.detail}") from None

    def pre_clearance(self, decl_json: dict[str, Any]) -> dict[str, Any]:
        """Attest the AI oracles' results on the declaration (settings.clearance.oracles).

        Each result goes on chain under its own kind before the clearance decision that uses
        it, so an auditor can trace which tariff suggestion or risk score led to a channel.
        An oracle that cannot answer is recorded as unavailable; clearance goes on without it
        (selectivity treats its data as absent).
        """
        results: dict[str, Any] = {}
        for kind in self.settings.clearance.oracles:
            if kind == "XRAY":  # attested when the scan was judged (POST /xray/scans)
                scan = latest_attested_scan(self.db, str(decl_json["declaration_id"]))
                if scan is not None:
                    results["xray"] = scan
                continue
            try:
                done = self.aggregator.attest(int(att.Kind[kind]), {"declaration": decl_json})
            except (OracleError, ChainError) as exc:
                log.warning("%s oracle unavailable for a declaration: %s", kind, exc)
                results[kind.lower()] = {
                    "unavailable": exc.code,
                    "detail": getattr(exc, "detail", None) or str(exc),
                }
                continue
            results[kind.lower()] = {**done.result.output, "attestation": done.to_json()}
        return results

    def _draw_down(self, decl: Declaration, decision: dict[str, Any]) -> list[dict[str, Any]]:
        permits = decision["permits"]
        if not permits or not all(p["ok"] for p in permits):
            return []
        lines: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for p in permits:
            item = next(i for i in decl.items if i.sequence == p["item"])
            lines[(p["permit"], item.hs_code[:6])] += Decimal(p["quantity"])
        try:
            draws = self.chain.permits.draw_down_many(
                self._operator(),
                declaration_hash(decl),
                [(permit_id_bytes(pid), hs, qty) for (pid, hs), qty in lines.items()],
            )
        except ContractReverted as exc:
            raise ClearanceError(
                "permit_draw_failed",
                f"the decision was attested, but drawing the permits failed: {exc}",
            ) from exc
        return (
            [{"permit": pid, "hs_code": hs, "quantity": str(q)} for (pid, hs), q in lines.items()]
            if draws is not None
            else []
        )

    def reroute(
        self, declaration_id: str, channel: str, officer: str, reason: str
    ) -> dict[str, Any]:
        """An officer's re-route: attested by the oracles, kept next to the original."""
        rec = self.get(declaration_id)
        if rec is None:
            raise ClearanceError(
                "unknown_declaration", f"no declaration {declaration_id} on this node"
            )
        try:
            new = Channel(channel)
        except ValueError:
            raise ClearanceError("invalid_channel", "channel must be C1, C2 or C3") from None
        if new == rec["channel"]:
            raise ClearanceError("same_channel", f"the declaration is already {new}")
        rows = self.db.query(
            "SELECT decision FROM declarations WHERE declaration_id = ?", (declaration_id,)
        )
        previous = (
            rec["reroutes"][-1]["attestation"]["result_hash"]
            if rec["reroutes"]
            else rec["attestation"]["result_hash"]
        )
        request = {
            "reroute": {
                "declaration": json.loads(rows[0][0])["declaration"],
                "from": rec["channel"],
                "to": str(new),
                "officer": officer,
                "reason": reason,
                "previous_result_hash": previous,
            }
        }
        done = self.aggregator.attest(int(att.CLEARANCE), request)
        entry = {
            "from": rec["channel"],
            "to": str(new),
            "officer": officer,
            "reason": reason,
            "at": utc_now(),
            "attestation": done.to_json(),
        }
        reroutes = [*rec["reroutes"], entry]
        self.db.execute(
            "UPDATE declarations SET channel = ?, reroutes = ? WHERE declaration_id = ?",
            (str(new), json.dumps(reroutes), declaration_id),
        )
        for hook in self.hooks:
            hook.changed(declaration_id)
        updated = self.get(declaration_id)
        if updated is None:  # read above and only updated since (declarations are not deleted)
            raise ClearanceError(
                "unknown_declaration", f"no declaration {declaration_id} on this node"
            )
        return updated

    def get(self, declaration_id: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM declarations WHERE declaration_id = ?", (declaration_id,)
        )
        return self._with_currency(_row(rows[0])) if rows else None

    def stats(self) -> dict[str, Any]:
        """How many declarations each rule selected and each channel received (engine and
        final, after re-routes), so a risk officer can tune the rules."""
        channels: dict[str, int] = defaultdict(int)
        engine: dict[str, int] = defaultdict(int)
        rules: dict[str, int] = defaultdict(int)
        rows = self.db.query("SELECT channel, decision FROM declarations")
        for r in rows:
            decision = json.loads(r["decision"])
            channels[r["channel"]] += 1
            engine[decision["channel"]] += 1
            for reason in decision["reasons"]:
                rules[reason["rule"]] += 1
        return {
            "declarations": len(rows),
            "channels": dict(channels),
            "engine_channels": dict(engine),
            "rules": dict(sorted(rules.items(), key=lambda kv: -kv[1])),
        }

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM declarations ORDER BY created_at DESC LIMIT ?", (limit,)
        )
        return [self._with_currency(_row(r)) for r in rows]


def _row(r) -> dict[str, Any]:
    decision = json.loads(r["decision"])
    return {
        "declaration": r["declaration_id"],
        "declaration_hash": r["declaration_hash"],
        "channel": r["channel"],
        "engine_channel": decision["channel"],
        "duties": decision["duties"],
        "reasons": decision["reasons"],
        "permits": decision["permits"],
        "documents": decision["documents"],
        "attestation": json.loads(r["attestation"]),
        "permit_draws": json.loads(r["draws"]),
        "reroutes": json.loads(r["reroutes"]),
        "created_at": r["created_at"],
        "created_by": r["created_by"],
    }
