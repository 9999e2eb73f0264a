"""The FastAPI application of one member node."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from nodes.api import (
    alerts,
    audit,
    declarations,
    documents,
    health,
    manifests,
    members,
    payments,
    tariff,
    transport,
    xray,
)
from nodes.api.responses import ERRORS
from nodes.context import NodeContext
from nodes.documents.workers import DocumentWorkers
from nodes.errors import install_error_handlers
from nodes.jsonguard import JsonGuard
from nodes.records import Job, RecordWorker
from nodes.transport.service import TransportWorker
from nodes.web import install
from offchain.settings import Settings, get_settings

VERSION = "0.1.0"


def create_app(
    member_id: str, settings: Settings | None = None, *, start_workers: bool = True
) -> FastAPI:
    """The node of `member_id` (e.g. "TW"); UnknownMemberError names the configured ones.

    `start_workers=False` leaves the batcher and deliverer off (tests drive them by hand).
    """
    settings = settings or get_settings()
    ctx = NodeContext.open(settings, member_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ctx.ensure_admin_key()
        workers = DocumentWorkers(ctx.documents)
        trips = TransportWorker(ctx.transport)
        records = RecordWorker(ctx.records, _record_jobs(ctx))
        if start_workers:
            workers.start()
            trips.start()
            records.start()
        yield
        workers.stop()
        trips.stop()
        records.stop()
        ctx.close()

    app = FastAPI(
        title=f"Smart Customs node {ctx.member.id}",
        description=(
            f"Member node of **{ctx.member.name}** in the Smart Customs consortium. "
            "Mutating endpoints need an `X-API-Key` header; errors are "
            '`{"error": code, "detail": text}`.'
        ),
        version=VERSION,
        lifespan=lifespan,
    )
    app.state.node = ctx
    install_error_handlers(app)
    # JSON bodies are checked for size and nesting before FastAPI parses them.
    app.add_middleware(JsonGuard, max_bytes=settings.documents.max_xml_bytes, max_depth=64)
    # Every JSON route answers errors as ErrorOut; the routers declare their own answers.
    for api in (
        health,
        members,
        documents,
        declarations,
        transport,
        alerts,
        tariff,
        audit,
        xray,
        manifests,
        payments,
    ):
        app.include_router(api.router, responses=ERRORS)
    app.state.xray_on_alert = xray.alert_sink(ctx)
    install(app)
    return app


def _record_jobs(ctx: NodeContext) -> list[Job]:
    """Periodic jobs of advance cargo information and payments (nodes.records)."""
    s = ctx.settings
    return [
        Job("partner manifests", ctx.manifests.sync_partner, s.manifests.partner_sync_s),
        Job("payment receipts", ctx.payments.flush_receipts, 0.0),
        Job("payment receipts left behind", ctx.payments.ensure_receipts, 30.0),
        Job("gateway nonces", ctx.payments.prune_nonces, 60.0),
    ]
