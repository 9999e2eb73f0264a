"""Partner customs' export manifests at the importing node: read in once delivered and
verified, judged before the carrier reports the cargo, compared with the carrier's arrival
lines, and the node-to-node reconciliation both sides can ask for (part of ManifestService).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from nodes.jsonguard import json_depth
from nodes.manifests.schema import (
    LINE_COLUMNS,
    Head,
    ManifestError,
    lane_of,
    row_record,
)
from offchain import crypto
from offchain.errors import CodedError
from offchain.keystore import role_account_name
from offchain.manifests import Manifest, ManifestLine, compare_lines, load_manifest_xml

if TYPE_CHECKING:
    import threading

    from chain.context import Chain
    from nodes.documents.service import DocumentService
    from offchain.db import Database
    from offchain.settings import Settings
    from offchain.xmlsafe import XmlLimits

log = logging.getLogger(__name__)


class PartnerManifests:
    """Mixed into ManifestService (its database, documents service, settings, chain)."""

    # Set by ManifestService.__init__ (declared here for the type checker only).
    settings: Settings
    member_id: str
    chain: Chain
    db: Database
    documents: DocumentService
    limits: XmlLimits
    _lock: threading.Lock

    if TYPE_CHECKING:
        # Defined by ManifestService.
        def _lines_of(
            self, keys: Iterable[tuple[str, int]], where: str, args: tuple = ()
        ) -> list: ...

        @staticmethod
        def _manifest_values(
            m: Manifest, source: str, sender: str, loaded_or_hash: Any, pipeline: str,
            forwarded_to: str | None, now: datetime, user: str, late: bool,
        ) -> tuple: ...  # fmt: skip

        def _line_row(
            self,
            m: Manifest,
            seq: int,
            line: ManifestLine,
            late: bool,
            partner: dict[tuple[str, int], dict[str, Any]],
            *,
            source: str = "lodged",
            sender: str = "",
        ) -> tuple: ...

        def _judge(
            self,
            head: Head,
            line: ManifestLine,
            late: bool,
            partner: dict[tuple[str, int], dict[str, Any]],
        ) -> tuple[list[dict[str, Any]], list[str] | None]: ...

        # Defined by ManifestReports (the other mixin).
        def _manifest_row(self, source: str, sender: str, manifest_id: str) -> Any: ...

        def find(self, ref: str, sender: str | None = None) -> Any: ...

    def _partner_lines(self, m: Manifest) -> dict[tuple[str, int], dict[str, Any]]:
        """The exporting customs' lines for the same transport documents (if it sent them)."""
        return self._partner_for([line.key for line in m.lines])

    def _partner_for(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        return {
            (r["td_number"], r["td_line"]): row_record(r)
            for r in self._lines_of(keys, "source = 'partner'")
        }

    def sync_partner(self) -> int:
        """Read in export manifests partners delivered (verified valid) not read in yet."""
        # The documents service's inbox (same database) holds what partners delivered.
        rows = self.db.query(
            "SELECT doc_hash, sender FROM in_documents WHERE doc_type = 'cargo-manifest'"
            " AND valid = 1 AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.source = 'partner'"
            " AND m.sender = in_documents.sender AND m.doc_hash = in_documents.doc_hash)"
            " ORDER BY received_at LIMIT 50"
        )
        done = 0
        for r in rows:
            try:
                xml = self.documents.open_received(r["doc_hash"])
                loaded = load_manifest_xml(xml, self.limits)
            except CodedError as exc:
                log.warning("received manifest %s from %s unreadable: %s", r["doc_hash"],
                            r["sender"], exc)  # fmt: skip
                continue
            self.receive_partner(loaded.manifest, r["doc_hash"], r["sender"])
            done += 1
        return done

    def receive_partner(self, m: Manifest, doc_hash: str, sender: str) -> None:
        """Keep a partner's export manifest; re-judge the carrier's lines it concerns."""
        now = datetime.now(UTC)
        rows = [
            self._line_row(m, i, line, False, {}, source="partner", sender=sender)
            for i, line in enumerate(m.lines, 1)
        ]
        with self._lock, self.db.transaction() as tx:
            try:
                tx.execute(
                    "INSERT INTO manifests (manifest_id, source, sender, type, doc_hash, form,"
                    " pipeline, forwarded_to, carrier_id, carrier_name, mode, means_id, journey,"
                    " loading_port, discharge_port, departure, arrival, lodged_at, lodged_by,"
                    " late, line_count, packages, gross_mass_kg)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._manifest_values(m, "partner", sender, doc_hash, "received",
                                          self.member_id, now, sender, False),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                # the same manifest id again from this partner (an amendment under the same id
                # is not accepted there either): keep the first
                log.warning("partner %s sent manifest %s twice", sender, m.manifest_id)
                return
            tx.executemany(
                f"INSERT OR IGNORE INTO manifest_lines ({LINE_COLUMNS}) VALUES "
                f"({','.join('?' * 26)})",
                rows,
            )
        self._rejudge_lodged({line.key for line in m.lines})

    def _rejudge_lodged(self, keys: set[tuple[str, int]]) -> None:
        """The carrier's import lines for these keys, judged again now that the partner's
        version is known (a difference raises MF-PARTNER-MISMATCH)."""
        for key in keys:
            rows = self.db.query(
                "SELECT id, manifest_id FROM manifest_lines WHERE source = 'lodged' AND type = 'IM'"
                " AND td_number = ? AND td_line = ?",
                key,
            )
            if not rows:
                continue
            head, line, late = self._model_line(rows[0]["id"])
            flags, diff = self._judge(head, line, late, self._partner_for([line.key]))
            self.db.execute(
                "UPDATE manifest_lines SET flags = ?, lane = ?, partner_diff = ? WHERE id = ?",
                (json.dumps(flags), lane_of(flags), None if diff is None else json.dumps(diff),
                 rows[0]["id"]),
            )  # fmt: skip

    def _model_line(self, line_id: int) -> tuple[Head, ManifestLine, bool]:
        """A stored line as its manifest's head and the line model (to judge it again)."""
        r = self.db.query(f"SELECT {LINE_COLUMNS} FROM manifest_lines WHERE id = ?", (line_id,))[0]
        head = self._manifest_row(r["source"], r["sender"], r["manifest_id"])
        doc = {
            "transport_document": {"type": r["td_type"], "number": r["td_number"], "line": r["td_line"]},
            "consignor": {"name": r["consignor_name"], "country": r["consignor_country"]},
            "consignee": {
                "name": r["consignee_name"], "country": r["consignee_country"],
                **({"id": r["consignee_id"], "id_scheme": r["consignee_scheme"]}
                   if r["consignee_id"] else {}),
            },
            "description": r["description"], "packages": r["packages"],
            "package_type": r["package_type"], "gross_mass_kg": r["gross_mass_kg"],
            "containers": json.loads(r["containers"]),
            **({"hs_code": r["hs_code"]} if r["hs_code"] else {}),
        }  # fmt: skip
        line = ManifestLine.model_validate(doc)
        stored = Head(
            head["manifest_id"],
            head["carrier_id"],
            head["loading_port"],
            datetime.fromisoformat(head["arrival"]),
        )
        return stored, line, bool(head["late"])

    def reconciliation_for(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Answer a partner's signed question about an export manifest it sent us."""
        env = crypto.Envelope.from_headers(headers)
        crypto.verify_envelope(
            env,
            body,
            recipient=self.member_id,
            chain_id=self.chain.deployment.chain_id,
            is_member_account=self.documents._is_member_account,
            seen_nonce=lambda sender, nonce: not self.documents.inbox.claim_nonce(sender, nonce),
            max_skew_s=self.settings.documents.envelope_max_skew_s,
        )
        if json_depth(body) > 4:
            raise ManifestError("invalid_request", "the question is nested too deeply")
        try:
            doc_hash = str(json.loads(body)["doc_hash"]).lower()
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(
                "invalid_request", f"the question needs a doc_hash: {exc}"
            ) from None
        rows = self.db.query(
            "SELECT manifest_id FROM manifests WHERE source = 'partner' AND sender = ?"
            " AND doc_hash = ?",
            (env.sender, doc_hash),
        )
        if not rows:
            raise ManifestError(
                "unknown_manifest",
                f"no export manifest {doc_hash} from {env.sender} has been read in here (yet)",
            )
        mid = rows[0]["manifest_id"]
        lines = self.db.query(
            f"SELECT {LINE_COLUMNS} FROM manifest_lines WHERE source = 'partner' AND sender = ?"
            " AND manifest_id = ? ORDER BY seq",
            (env.sender, mid),
        )
        out = []
        for p in lines:
            rep = self.db.query(
                f"SELECT {LINE_COLUMNS} FROM manifest_lines WHERE source = 'lodged' AND type = 'IM'"
                " AND td_number = ? AND td_line = ?",
                (p["td_number"], p["td_line"]),
            )
            entry: dict[str, Any] = {
                "transport_document": {"number": p["td_number"], "line": p["td_line"]}
            }
            if not rep:
                entry["status"] = "not_reported_yet"
            else:
                diff = compare_lines(
                    row_record(p),
                    row_record(rep[0]),
                    self.settings.manifests.weight_tolerance_pct,
                )
                entry.update(status="differs" if diff else "matches", differences=diff,
                             reported_in=rep[0]["manifest_id"])  # fmt: skip
            out.append(entry)
        return {"member": self.member_id, "manifest": mid, "doc_hash": doc_hash, "lines": out}

    def reconciliation(self, ref: str) -> dict[str, Any]:
        """Ask the importing member how it saw an export manifest this node forwarded."""
        row = self.find(ref)
        if row["source"] != "lodged" or not row["forwarded_to"]:
            raise ManifestError(
                "not_forwarded",
                f"manifest {row['manifest_id']} was not forwarded to a partner customs",
            )
        body = json.dumps({"doc_hash": row["doc_hash"]}).encode()
        env = crypto.sign_envelope(
            self.chain.keys.account(role_account_name(self.member_id, "ISSUER")),
            self.member_id,
            row["forwarded_to"],
            body,
            chain_id=self.chain.deployment.chain_id,
        )
        url = f"{self.settings.node_url(row['forwarded_to'])}/manifests/partner/reconciliation"
        try:
            resp = httpx.post(
                url,
                content=body,
                headers={**env.to_headers(), "Content-Type": "application/json"},
                timeout=15.0,
            )
        except httpx.HTTPError as exc:
            raise ManifestError(
                "partner_unavailable", f"{row['forwarded_to']}'s node does not answer: {exc}"
            ) from None
        try:
            data = resp.json()
        except ValueError:
            data = {"error": "partner_error", "detail": resp.text[:200]}
        if resp.status_code == 404:
            raise ManifestError(
                "not_received_yet",
                f"{row['forwarded_to']} has not read the manifest in yet: {data.get('detail')}",
            )
        if resp.status_code != 200:
            raise ManifestError(
                "partner_unavailable",
                f"{row['forwarded_to']} answered {resp.status_code}: {data.get('detail')}",
            )
        return data
