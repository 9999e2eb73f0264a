"""What one member node holds while it runs: its member, database, API keys and chain.

The chain is connected lazily: a node starts (and answers /health) even while the chain is
down, and reports it instead of crashing.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from chain.context import Chain
from nodes.auth import ApiKeys
from nodes.clearance.service import ClearanceService
from nodes.documents.service import DocumentService
from nodes.manifests.service import ManifestClearanceHook, ManifestService
from nodes.payments.service import PaymentClearanceHook, PaymentService
from nodes.records import RecordService
from nodes.transport.service import TransportService
from offchain.db import Database
from offchain.keystore import member_admin_name
from offchain.settings import MemberConfig, Settings


@dataclass
class NodeContext:
    settings: Settings
    member: MemberConfig
    db: Database
    api_keys: ApiKeys
    chain: Chain = field(repr=False)
    documents: DocumentService = field(repr=False)
    clearance: ClearanceService = field(repr=False)
    transport: TransportService = field(repr=False)
    records: RecordService = field(repr=False)  # manifests and payment receipts, anchored
    manifests: ManifestService = field(repr=False)
    payments: PaymentService = field(repr=False)

    @classmethod
    def open(cls, settings: Settings, member_id: str) -> NodeContext:
        member = settings.member(member_id)
        node_dir = settings.node_dir(member.id)
        db = Database(node_dir / "node.sqlite")
        chain = Chain(settings)
        documents = DocumentService(settings, member.id, chain, db)
        clearance = ClearanceService(settings, member.id, chain, db)
        records = RecordService(settings, member.id, chain)
        manifests = ManifestService(settings, member.id, chain, db, documents, records)
        payments = PaymentService(settings, member.id, db, clearance, records)
        clearance.hooks += [ManifestClearanceHook(manifests), PaymentClearanceHook(payments)]
        return cls(
            settings=settings,
            member=member,
            db=db,
            api_keys=ApiKeys(db, member.id),
            chain=chain,
            documents=documents,
            clearance=clearance,
            transport=TransportService(settings, member.id, chain, db),
            records=records,
            manifests=manifests,
            payments=payments,
        )

    @property
    def admin_key_file(self) -> Path:
        return self.settings.node_dir(self.member.id) / "admin.apikey"

    def governance_sender(self):
        """The TxSender of this member's governance (admin) account."""
        return self.chain.sender(member_admin_name(self.member.id))

    def ensure_admin_key(self) -> Path:
        """On first start, create an admin API key and leave it (0600) for the operator."""
        path = self.admin_key_file
        if path.exists() and any(
            u.role == "admin" and not u.revoked_at for u in self.api_keys.list()
        ):
            return path
        key, _ = self.api_keys.create("admin", "admin")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        self.transport.close_db()
        self.records.close()
        self.db.close()
