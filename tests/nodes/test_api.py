"""A member node over real HTTP (uvicorn) against the real anvil chain and contracts."""

from __future__ import annotations

import pytest

from chain.devnet import free_port
from nodes.auth import ApiKeys
from offchain.db import Database
from offchain.settings import Settings

pytestmark = pytest.mark.contract


def _admin_key(settings: Settings, member_id: str) -> str:
    return (settings.node_dir(member_id) / "admin.apikey").read_text().strip()


def _key_with_role(settings: Settings, member_id: str, role: str) -> str:
    db = Database(settings.node_dir(member_id) / "node.sqlite")
    try:
        key, _ = ApiKeys(db, member_id).create(f"test-{role}", role)
    finally:
        db.close()
    return key


def test_health_reports_chain_block_and_contracts(node_url, http, deployment, w3):
    resp = http.get(f"{node_url('TW')}/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["member"] == "TW"
    assert body["status"] == "ok"
    assert body["chain"]["reachable"] is True
    assert body["chain"]["chain_id"] == w3.eth.chain_id
    assert body["chain"]["block"] >= 1
    assert body["contracts"]["ConsortiumRegistry"] == deployment.address("ConsortiumRegistry")


def test_members_lists_the_three_founders(node_url, http, keys):
    resp = http.get(f"{node_url('SG')}/members")
    assert resp.status_code == 200
    members = {m["id"]: m for m in resp.json()}
    assert set(members) == {"TW", "SG", "NZ"}
    assert all(m["active"] for m in members.values())
    assert members["TW"]["nodes"] == [keys.enode_id("TW")]
    assert members["NZ"]["x25519_key"] == "0x" + bytes(keys.box_key("NZ").public_key).hex()


def test_unknown_member_is_404_with_json_error(node_url, http):
    resp = http.get(f"{node_url('TW')}/members/XX")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_member"
    assert "XX" in resp.json()["detail"]


def test_malformed_member_id_is_400(node_url, http):
    resp = http.get(f"{node_url('TW')}/members/not-an-id")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_member_id"


def test_unknown_route_is_json_404(node_url, http):
    resp = http.get(f"{node_url('TW')}/no/such/thing")
    assert resp.status_code == 404
    assert resp.json() == {"error": "not_found", "detail": "Not Found"}


def test_openapi_docs_are_served(node_url, http):
    assert http.get(f"{node_url('TW')}/docs").status_code == 200
    spec = http.get(f"{node_url('TW')}/openapi.json").json()
    assert "/proposals" in spec["paths"]
    assert "/health" in spec["paths"]


def test_openapi_types_every_json_answer(node_url, http):
    """Each JSON answer has a named model (nodes/api/responses.py), errors are ErrorOut, and
    what is not JSON says its media type: the schema the fuzzer checks answers against."""
    spec = http.get(f"{node_url('TW')}/openapi.json").json()
    untyped, operations = [], 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            operations += 1
            for status, answer in op["responses"].items():
                for media, content in answer.get("content", {}).items():
                    schema = content.get("schema", {})
                    ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
                    if media == "application/json" and not ref:
                        untyped.append(f"{method.upper()} {path} {status}")
                    if status in ("4XX", "5XX"):
                        assert ref == "#/components/schemas/ErrorOut", (method, path, status)
            assert "422" not in op["responses"], f"{method} {path}: FastAPI's 422 is not ours"
    assert operations >= 80
    assert untyped == []


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "sc_tw_not-a-real-key"}])
def test_mutations_need_a_valid_api_key(node_url, http, headers):
    resp = http.post(
        f"{node_url('TW')}/proposals",
        json={"kind": "remove_member", "member_id": "NZ"},
        headers=headers,
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"] == "ApiKey"


def test_revoked_key_is_refused(node_url, http, settings):
    url = node_url("TW")
    db = Database(settings.node_dir("TW") / "node.sqlite")
    keys = ApiKeys(db, "TW")
    key, user = keys.create("leaver", "admin")
    assert keys.revoke(user.id)
    db.close()
    resp = http.post(f"{url}/proposals/1/votes", json={"support": True}, headers={"X-API-Key": key})
    assert resp.status_code == 401
    assert "revoked" in resp.json()["detail"]


def test_wrong_role_is_403(node_url, http, settings):
    key = _key_with_role(settings, "TW", "exporter")
    resp = http.post(
        f"{node_url('TW')}/proposals",
        json={"kind": "remove_member", "member_id": "NZ"},
        headers={"X-API-Key": key},
    )
    assert resp.status_code == 403
    assert resp.json()["error"] == "forbidden"


def test_governance_round_trip_over_http(node_url, http, settings, snapshot):
    tw, sg = node_url("TW"), node_url("SG")
    created = http.post(
        f"{tw}/proposals",
        json={"kind": "remove_member", "member_id": "NZ"},
        headers={"X-API-Key": _admin_key(settings, "TW")},
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert created.json()["state"] == "pending"
    again = http.post(
        f"{tw}/proposals/{pid}/votes",
        json={"support": True},
        headers={"X-API-Key": _admin_key(settings, "TW")},
    )
    assert again.status_code == 409
    assert again.json()["error"] == "already_voted"
    assert again.json()["revert"]["args"]["memberId"] == "TW"
    passed = http.post(
        f"{sg}/proposals/{pid}/votes",
        json={"support": True},
        headers={"X-API-Key": _admin_key(settings, "SG")},
    )
    assert passed.status_code == 200
    assert passed.json()["state"] == "executed"
    nz = http.get(f"{tw}/members/NZ").json()
    assert nz["active"] is False


def test_incomplete_proposal_is_422_naming_missing_fields(node_url, http, settings):
    resp = http.post(
        f"{node_url('TW')}/proposals",
        json={"kind": "grant_role", "role": "ISSUER"},
        headers={"X-API-Key": _admin_key(settings, "TW")},
    )
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_request"
    assert "account" in resp.json()["detail"] and "member_id" in resp.json()["detail"]


def test_invalid_body_is_422(node_url, http, settings):
    resp = http.post(
        f"{node_url('TW')}/proposals",
        json={"kind": "make_me_king"},
        headers={"X-API-Key": _admin_key(settings, "TW")},
    )
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_request"
    assert "kind" in resp.json()["detail"]


def test_unknown_role_in_proposal_is_400(node_url, http, settings):
    resp = http.post(
        f"{node_url('TW')}/proposals",
        json={"kind": "revoke_role", "role": "KING", "account": "0x" + "11" * 20},
        headers={"X-API-Key": _admin_key(settings, "TW")},
    )
    assert resp.status_code == 400
    assert "KING" in resp.json()["detail"]


def test_chain_down_gives_503_not_a_crash(tmp_path, settings, serve_node, http):
    """A node whose chain is unreachable still serves /health (503) and JSON errors."""
    dead = Settings(home=tmp_path / "var", chain={"anvil_port": free_port()})
    with serve_node(dead, "TW", port=free_port()) as url:
        health = http.get(f"{url}/health")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "degraded"
        assert body["chain"]["reachable"] is False
        assert body["error"]["error"] == "chain_unavailable"
        members = http.get(f"{url}/members")
        assert members.status_code == 503
        assert members.json()["error"] == "chain_unavailable"
        assert "smartcustoms devnet up" in members.json()["detail"]


def test_node_for_unknown_member_is_refused(settings):
    from nodes.app import create_app
    from offchain.settings import UnknownMemberError

    with pytest.raises(UnknownMemberError, match="TW, SG, NZ"):
        create_app("XX", settings)


def test_deeply_nested_json_is_refused_and_the_node_survives(node_url, http, settings):
    """100,000 nested arrays used to crash the whole node process in the JSON parser."""
    url = node_url("TW")
    body = b"[" * 100_000 + b"]" * 100_000
    resp = http.post(
        f"{url}/proposals",
        content=body,
        headers={"X-API-Key": _admin_key(settings, "TW"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "json_too_deep"
    assert http.get(f"{url}/health").status_code == 200


def test_oversized_json_is_413(node_url, http, settings):
    url = node_url("TW")
    cap = settings.documents.max_xml_bytes
    resp = http.post(
        f"{url}/declarations",
        content=b'{"a": "' + b"x" * cap + b'"}',
        headers={"X-API-Key": _admin_key(settings, "TW"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.json()["error"] == "json_too_large"


def test_json_depth_ignores_brackets_inside_strings():
    from nodes.jsonguard import json_depth

    assert json_depth(b'{"a": [1, {"b": "[[[[[[["}]}') == 3
    assert json_depth(b'"\\"[[[["') == 0
    assert json_depth(b"[]") == 1
