"""The X-ray endpoints on a node app: uploads (raw and multipart), caps, roles, feedback."""

from __future__ import annotations

import io
import struct
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from nodes.api import xray
from nodes.auth import ApiKeys
from nodes.errors import install_error_handlers
from offchain.cas import LocalStore
from offchain.db import Database
from offchain.settings import Settings
from oracles.xray import synth
from oracles.xray.image import ImageLimits


def png(seed: int, index: int, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synth.scan(seed, index, **kw).image).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def client(tmp_path):
    db = Database(tmp_path / "node.sqlite")
    keys = ApiKeys(db, "TW")
    # A bare app with the X-ray router and a stand-in node context (no chain: the verdict's
    # attestation is tested in tests/nodes/test_xray_clearance.py).
    settings = Settings(home=tmp_path / "var", clearance={"oracles": []})
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(xray.router)
    app.state.node = SimpleNamespace(
        settings=settings,
        db=db,
        api_keys=keys,
        documents=SimpleNamespace(store=LocalStore(tmp_path / "cas", fsync=False)),
    )
    got: list[dict] = []
    app.state.xray_on_alert = got.append
    officer, _ = keys.create("officer-1", "officer")
    exporter, _ = keys.create("exporter-1", "exporter")
    with TestClient(app) as c:
        c.officer = {"X-API-Key": officer}
        c.exporter = {"X-API-Key": exporter}
        c.alerts = got
        yield c
    db.close()


def test_raw_and_multipart_uploads_and_reads(client):
    data = png(777, 0, threats={"firearm": 1})
    r = client.post(
        "/xray/scans?filename=bag.png&declaration_id=D-9",
        content=data,
        headers={**client.officer, "Content-Type": "image/png"},
    )
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["image"] == "bag.png" and rec["declaration_id"] == "D-9"
    assert set(rec) >= {"sha256", "threats", "verdict", "ms", "alerts", "model_version"}
    assert len(client.alerts) == len(rec["alerts"])

    m = client.post(
        "/xray/scans",
        files={"file": ("other.png", png(1, 5, size=128), "image/png")},
        headers=client.officer,
    )
    assert m.status_code == 201, m.text
    assert m.json()["image"] == "other.png"

    got = client.get(f"/xray/scans/{rec['scan_id']}", headers=client.exporter)
    assert got.json()["sha256"] == rec["sha256"]
    over = client.get(f"/xray/scans/{rec['scan_id']}/overlay.png", headers=client.exporter)
    assert over.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(over.content)).size == (512, 512)
    raw = client.get(f"/xray/scans/{rec['scan_id']}/image", headers=client.exporter)
    assert raw.content == data
    assert len(client.get("/xray/scans", headers=client.officer).json()) == 2
    assert client.get("/xray/model", headers=client.officer).json()["model_version"]


def test_feedback_over_http(client):
    rec = client.post(
        "/xray/scans", content=png(777, 0, threats={"firearm": 1}), headers=client.officer
    ).json()
    r = client.post(
        f"/xray/scans/{rec['scan_id']}/feedback",
        headers=client.officer,
        json={"class": "knife", "decision": "reject", "note": "scissors"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["feedback"][-1]["class"] == "knife"
    if rec["alerts"]:
        aid = rec["alerts"][0]["alert_id"]
        a = client.post(
            f"/xray/alerts/{aid}/feedback", headers=client.officer, json={"decision": "confirm"}
        )
        assert a.status_code == 200
        assert client.get("/xray/alerts?status=confirmed", headers=client.officer).json()
    denied = client.post(
        f"/xray/scans/{rec['scan_id']}/feedback",
        headers=client.exporter,
        json={"class": "knife", "decision": "confirm"},
    )
    assert denied.status_code == 403


def _tiff_with_a_page_without_size() -> bytes:
    """A real 64 x 64 TIFF whose next-page pointer leads to a page with no tags (PIL raised
    TypeError reading its size: the API answered 500)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 180, 90)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    first = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, first)[0]
    struct.pack_into("<I", data, first + 2 + 12 * entries, len(data))
    return bytes(data + struct.pack("<HI", 0, 0))


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"not an image at all", 400, "not_an_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 10, 400, "not_an_image"),
        (_tiff_with_a_page_without_size(), 400, "not_an_image"),
    ],
    ids=["text", "cut_png", "tiff_page_without_size"],
)
def test_bad_uploads_answer_error_codes(client, body, status, code):
    r = client.post("/xray/scans", content=body, headers=client.officer)
    assert r.status_code == status and r.json()["error"] == code, r.text
    assert r.json()["detail"]


def test_upload_cap_and_roles(client):
    assert client.get("/xray/stats", headers=client.officer).status_code == 200  # builds it
    client.app.state.xray.limits = ImageLimits(max_bytes=2048)
    big = png(1, 0, size=256)
    assert len(big) > 2048 + xray.MULTIPART_OVERHEAD
    r = client.post("/xray/scans", content=big, headers=client.officer)
    assert r.status_code == 413 and r.json()["error"] == "upload_too_large", r.text
    r = client.post(
        "/xray/scans", content=png(1, 0, size=64)[:3000] + bytes(2000), headers=client.officer
    )
    assert r.status_code == 413
    no_key = client.post("/xray/scans", content=b"x")
    assert no_key.status_code == 401
    exporter = client.post("/xray/scans", content=png(1, 0, size=64), headers=client.exporter)
    assert exporter.status_code == 403
    unknown = client.get("/xray/scans/nope", headers=client.officer)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_scan"
