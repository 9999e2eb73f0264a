"""GET /health: is this node useful right now, and what is it connected to."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chain.errors import ChainError
from nodes.api.deps import NodeDep
from nodes.api.responses import HealthOut

router = APIRouter(tags=["node"])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={
        503: {"model": HealthOut, "description": "Degraded: the chain or contracts are missing"}
    },
    summary="Node health: chain reachability, block, contracts, member",
)
def health(ctx: NodeDep) -> JSONResponse:
    """200 when the chain answers and the contracts are deployed, else 503 with the reason."""
    body: dict = {
        "member": ctx.member.id,
        "name": ctx.member.name,
        "status": "ok",
        "chain": {"rpc_url": ctx.settings.chain.rpc_url, "reachable": False},
        "contracts": {},
    }
    try:
        w3 = ctx.chain.w3
        body["chain"].update(reachable=True, chain_id=w3.eth.chain_id, block=w3.eth.block_number)
        body["contracts"] = {name: c.address for name, c in ctx.chain.deployment.contracts.items()}
    except ChainError as exc:
        body["status"] = "degraded"
        body["error"] = {"error": exc.code, "detail": str(exc)}
    except Exception as exc:  # a transport error web3 did not classify
        body["status"] = "degraded"
        body["error"] = {"error": "chain_unavailable", "detail": f"{type(exc).__name__}: {exc}"}
    return JSONResponse(status_code=200 if body["status"] == "ok" else 503, content=body)
