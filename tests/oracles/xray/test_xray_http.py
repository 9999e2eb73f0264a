"""X-ray uploads over real HTTP: a node app (uvicorn, free port) refuses what is not a scan.

The node is TW's app from `nodes.app.create_app` (no chain: the node is told not to attest
X-ray verdicts, so only the refusal itself is under test; that a refused upload is never
attested follows from it being refused before anything is stored or sent to the oracles,
see test_xray_gate.py for the oracle instances).
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from chain.devnet import free_port
from nodes.app import create_app
from nodes.auth import ApiKeys
from offchain.db import Database
from offchain.settings import Settings
from oracles.xray import synth


@dataclass
class Node:
    url: str
    key: str

    def upload(self, data: bytes, **params) -> httpx.Response:
        return httpx.post(
            self.url + "/xray/scans",
            content=data,
            params=params,
            headers={"X-API-Key": self.key, "Content-Type": "application/octet-stream"},
            timeout=60,
        )

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(
            self.url + path, params=params, headers={"X-API-Key": self.key}, timeout=30
        )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("xray-http")
    settings = Settings(home=home, clearance={"oracles": []})
    member = settings.members[0].id
    db = Database(settings.node_dir(member) / "node.sqlite")
    key, _ = ApiKeys(db, member).create(f"test-{uuid.uuid4().hex[:6]}", "officer")
    db.close()
    app = create_app(member, settings, start_workers=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "node did not start"
        time.sleep(0.02)
    yield Node(f"http://127.0.0.1:{port}", key)
    server.should_exit = True
    thread.join(timeout=10)


def animated_gif(colours, side: int = 32) -> bytes:
    frames = [Image.new("RGB", (side, side), c) for c in colours]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _refused(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code, body
    assert body["detail"]
    return body["detail"]


def test_a_flat_colour_animated_gif_is_refused(node: Node) -> None:
    """Issue #16 item 5: a 32 x 32 flat-colour animated GIF was accepted, judged
    `firearm 0.96`, opened two alerts and went to attestation.  The encoder merges its
    identical frames into one that keeps the animation loop."""
    data = animated_gif([(0, 0, 0)] * 3)
    assert Image.open(io.BytesIO(data)).n_frames == 1  # what made it slip through
    detail = _refused(node.upload(data, filename="flat.gif"), 400, "animated_image")
    assert "animation" in detail
    other = animated_gif([(255, 0, 0), (0, 255, 0), (0, 0, 255)], side=300)
    _refused(node.upload(other), 400, "animated_image")


@pytest.mark.parametrize(
    "picture, why",
    [
        (Image.new("RGB", (300, 300), (0, 0, 0)), "flat"),
        (Image.new("RGB", (640, 480), (255, 255, 255)), "flat"),
        (Image.new("RGB", (32, 32), (120, 40, 200)), "small"),
        (
            Image.fromarray(
                np.random.default_rng(5).integers(0, 256, (400, 400, 3), dtype=np.uint8)
            ),
            "noise",
        ),
    ],
    ids=["black", "white", "tiny", "noise"],
)
def test_pictures_that_are_not_scans_are_refused_and_nothing_is_kept(
    node: Node, picture: Image.Image, why: str
) -> None:
    before = len(node.get("/xray/scans").json())
    alerts = len(node.get("/xray/alerts", status="open").json())
    detail = _refused(
        node.upload(encode(picture), declaration_id="D-NOT-A-SCAN"), 422, "not_a_scan"
    )
    assert why in detail
    assert len(node.get("/xray/scans").json()) == before  # not stored, not judged
    assert len(node.get("/xray/alerts", status="open").json()) == alerts  # no alert


def test_a_real_scan_still_goes_through(node: Node) -> None:
    data = encode(Image.fromarray(synth.scan(8080, 0, threats={"firearm": 1}).image))
    r = node.upload(data, filename="bag.png")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["verdict"] in ("threat", "uncertain", "clear") and rec["scores"]
    assert node.get(f"/xray/scans/{rec['scan_id']}").json()["sha256"] == rec["sha256"]


def test_an_uncertain_scan_is_kept_for_a_look_without_an_alert(
    node: Node, uncertain_scan_png: bytes
) -> None:
    """A scan in the review band: stored with verdict `uncertain` and the classes to look
    at, no alert (nobody is sent to open the bag), and found by `?verdict=uncertain`."""
    alerts = len(node.get("/xray/alerts", status="open").json())
    r = node.upload(uncertain_scan_png, filename="look.png")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["verdict"] == "uncertain" and rec["threat"] is False and rec["threats"] == []
    assert rec["review"] and rec["alerts"] == []
    info = node.get("/xray/model").json()
    assert info["review_rate"] == 0.1
    for row in rec["review"]:
        assert info["review_thresholds"][row["class"]] == row["threshold"] <= row["score"]
        assert row["score"] < info["thresholds"][row["class"]]
    assert len(node.get("/xray/alerts", status="open").json()) == alerts
    listed = [s["scan_id"] for s in node.get("/xray/scans", verdict="uncertain").json()]
    assert rec["scan_id"] in listed
    clear = [s["scan_id"] for s in node.get("/xray/scans", verdict="clear").json()]
    assert rec["scan_id"] not in clear
    bad = node.get("/xray/scans", verdict="maybe")
    assert bad.status_code == 422 and bad.json()["error"]
