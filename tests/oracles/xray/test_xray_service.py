"""The node's image database: scans kept in the content store, alerts raised, feedback kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from offchain.cas import LocalStore
from offchain.db import Database
from oracles.xray import synth
from oracles.xray.errors import XrayError
from oracles.xray.model import SHIPPED_DIR, XrayModel
from oracles.xray.service import XrayService


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def model() -> XrayModel:
    return XrayModel(SHIPPED_DIR)


@pytest.fixture
def alerts() -> list[dict]:
    return []


@pytest.fixture
def svc(tmp_path, model, alerts) -> XrayService:
    db = Database(tmp_path / "node.sqlite")
    yield XrayService(db, LocalStore(tmp_path / "cas", fsync=False), model, on_alert=alerts.append)
    db.close()


@pytest.fixture(scope="module")
def firearm_png(model) -> bytes:
    """A held-out scan with a firearm the model finds (the first of a fixed seed)."""
    for i in range(10):
        data = png(synth.scan(777, i, threats={"firearm": 1}).image)
        if model.detect(Image.open(io.BytesIO(data)).convert("RGB")).verdict == "threat":
            return data
    pytest.fail("no firearm scan of seed 777 raised an alert")


def test_scan_is_stored_judged_and_alerted(svc, firearm_png, alerts):
    rec = svc.scan(firearm_png, user="officer-1", filename="bag.png", declaration_id="D-1")
    assert rec["verdict"] == "threat" and rec["threat"] is True
    assert svc.store.get(rec["cid"]) == firearm_png  # the image database holds the bytes
    assert rec["model_version"] == svc.model.version_id
    assert any(t["class"] == "firearm" for t in rec["threats"])
    assert [a["alert_id"] for a in rec["alerts"]] == [a["alert_id"] for a in alerts]
    first = alerts[0]
    assert first["kind"] == "xray" and first["scan_id"] == rec["scan_id"]
    assert first["sha256"] == rec["sha256"] and first["status"] == "open"
    assert first["declaration_id"] == "D-1" and len(first["box"]) == 4
    assert svc.get(rec["scan_id"]) == rec
    assert svc.list()[0]["scan_id"] == rec["scan_id"]
    assert {a["alert_id"] for a in svc.alerts("open")} == {a["alert_id"] for a in alerts}


def test_overlay_is_a_png_of_the_scan(svc, firearm_png):
    rec = svc.scan(firearm_png, user="officer-1")
    over = Image.open(io.BytesIO(svc.overlay(rec["scan_id"])))
    assert over.format == "PNG" and over.size == (512, 512)
    original = np.asarray(Image.open(io.BytesIO(firearm_png)).convert("RGB"))
    assert (np.asarray(over.convert("RGB")) != original).any()  # boxes were drawn


def test_feedback_closes_alerts_and_becomes_labels(svc, firearm_png):
    rec = svc.scan(firearm_png, user="officer-1")
    alert = next(a for a in rec["alerts"] if a["class"] == "firearm")
    after = svc.alert_feedback(alert["alert_id"], "confirm", user="officer-2", note="pistol")
    done = next(a for a in after["alerts"] if a["alert_id"] == alert["alert_id"])
    assert done["status"] == "confirmed" and done["decided_by"] == "officer-2"
    svc.feedback(rec["scan_id"], "drugs", "reject", user="officer-2")
    [(data, y, known, sha)] = svc.labelled()
    assert data == firearm_png and sha == rec["sha256"]
    idx = {c: i for i, c in enumerate(svc.model.classes)}
    assert y[idx["firearm"]] == 1 and known[idx["firearm"]] == 1
    assert y[idx["drugs"]] == 0 and known[idx["drugs"]] == 1
    assert known[idx["meat"]] == 0  # nobody decided: unknown, not "clean"
    assert svc.alerts("open") == [] or all(a["class"] != "firearm" for a in svc.alerts("open"))


@pytest.mark.parametrize(
    "call",
    [
        lambda s, sid: s.feedback(sid, "grenade", "confirm", user="u"),
        lambda s, sid: s.feedback(sid, "firearm", "maybe", user="u"),
        lambda s, sid: s.feedback("no-such-scan", "firearm", "confirm", user="u"),
        lambda s, sid: s.alert_feedback(999_999, "confirm", user="u"),
    ],
)
def test_bad_feedback_is_refused(svc, call):
    rec = svc.scan(png(synth.scan(1, 2, size=128).image), user="u")
    with pytest.raises(XrayError) as info:
        call(svc, rec["scan_id"])
    assert info.value.code in {"bad_feedback", "unknown_scan", "unknown_alert"}


def test_a_bad_image_stores_nothing(svc, alerts):
    with pytest.raises(XrayError) as info:
        svc.scan(b"GIF89a not really", user="u")
    assert info.value.code == "not_an_image"
    assert svc.list() == [] and alerts == []


def test_an_alert_sink_that_fails_does_not_lose_the_scan(tmp_path, model, firearm_png):
    def broken(_):
        raise RuntimeError("stream down")

    db = Database(tmp_path / "n.sqlite")
    s = XrayService(db, LocalStore(tmp_path / "c", fsync=False), model, on_alert=broken)
    rec = s.scan(firearm_png, user="u")
    assert s.get(rec["scan_id"])["verdict"] == "threat"
    db.close()
