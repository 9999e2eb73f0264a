"""Tariff classification over HTTP: candidates, the question dialogue, checks, evaluation.

    POST /classify                      {description, top} -> candidates, question, session
    GET  /classify/{session}            the dialogue as it stands
    POST /classify/{session}/answer     {question, option} -> narrowed candidates
    POST /classify/{session}/stop       end the dialogue, keep the candidates
    POST /classify/check                {description, hs_code} -> does the code fit?
    POST /classify/evaluate             CSV body (?text_col=&label_col=) -> accuracy

Dialogues live in the service's in-memory session store (see `oracles.tariff.sessions`):
they expire after `session_ttl_s` without an answer and do not survive a restart.  The
service is built once per app from the node's settings and kept on `app.state.tariff`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from nodes.api.deps import NodeDep, UserDep
from nodes.api.responses import ClassificationOut, CodeCheckOut, TariffEvaluationOut
from oracles.tariff.errors import TariffInputError
from oracles.tariff.service import TariffService, service_for

router = APIRouter(tags=["tariff"])
MAX_API_ROWS = 20_000  # rows evaluated per request; larger files: `classify evaluate` locally


class ClassifyIn(BaseModel):
    description: str = Field(description="What the goods are, in plain words.")
    top: int = Field(5, ge=1, le=20)


class AnswerIn(BaseModel):
    question: str = Field(max_length=16, description="The id of the pending question (q1...).")
    option: str = Field(max_length=32, description="The id of the chosen option.")


class CheckIn(BaseModel):
    description: str
    hs_code: str = Field(max_length=20)


def tariff_service(request: Request, ctx: NodeDep) -> TariffService:
    """The app's tariff service, built on first use from the node's settings."""
    svc = getattr(request.app.state, "tariff", None)
    if svc is None:
        svc = service_for(ctx.settings)
        request.app.state.tariff = svc
    return svc


Service = Annotated[TariffService, Depends(tariff_service)]


@router.post(
    "/classify",
    response_model=ClassificationOut,
    summary="Ranked HS codes for a description, and a question if close",
)
def classify(body: ClassifyIn, svc: Service, _: UserDep) -> dict[str, Any]:
    return svc.start(body.description, body.top)


@router.post(
    "/classify/check",
    response_model=CodeCheckOut,
    summary="Does a declared HS code fit the description?",
)
def check(body: CheckIn, svc: Service, _: UserDep) -> dict[str, Any]:
    from oracles.tariff.oracle import TariffOracle

    hs6 = svc.check_code(body.hs_code)
    oracle = TariffOracle(
        svc.model, svc.table, svc.settings.mismatch_confidence, svc.settings.max_description_chars
    )
    item = oracle.compute({"items": [{"description": body.description, "hs_code": body.hs_code}]})[
        "items"
    ][0]
    return {**item, "declared_hs6": hs6, "model_version": oracle.model_version}


@router.post(
    "/classify/evaluate",
    response_model=TariffEvaluationOut,
    summary="Accuracy on a labelled CSV (request body)",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def evaluate(
    request: Request,
    svc: Service,
    _: UserDep,
    text_col: Annotated[str, Query(max_length=64)] = "description",
    label_col: Annotated[str, Query(max_length=64)] = "hs_code",
) -> dict[str, Any]:
    from fastapi.concurrency import run_in_threadpool

    body = await _read_capped(request, svc.settings.max_upload_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_bytes(body)
        return await run_in_threadpool(
            svc.evaluate_file, path, text_col, label_col, False, MAX_API_ROWS
        )


async def _read_capped(request: Request, cap: int) -> bytes:
    """The request body; `upload_too_large` (413) past `cap` bytes, without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise TariffInputError(
            "upload_too_large",
            f"{declared} bytes is over the {cap}-byte cap; evaluate a larger file with the CLI",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TariffInputError("upload_too_large", f"the body is over the {cap}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get(
    "/classify/{session}",
    response_model=ClassificationOut,
    summary="A classification dialogue as it stands",
)
def dialogue(session: str, svc: Service, _: UserDep) -> dict[str, Any]:
    from oracles.tariff.dialogue import Dialogue

    state = svc.sessions.get(session)
    out = svc.render(Dialogue.from_json(state["dialogue"]), state["top"])
    return {**out, "session": session}


@router.post(
    "/classify/{session}/answer",
    response_model=ClassificationOut,
    summary="Answer the pending question",
)
def answer(session: str, body: AnswerIn, svc: Service, _: UserDep) -> dict[str, Any]:
    return svc.answer(session, body.question, body.option)


@router.post(
    "/classify/{session}/stop",
    response_model=ClassificationOut,
    summary="End the dialogue with the current candidates",
)
def stop(session: str, svc: Service, _: UserDep) -> dict[str, Any]:
    return svc.stop(session)
