"""XrayOracle: the same verdict and result hash from the same image, what clearance reads."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

from offchain import attestation as att
from offchain.cas import LocalStore
from oracles.base import OracleError
from oracles.xray import synth
from oracles.xray.model import SHIPPED_DIR, XrayModel
from oracles.xray.oracle import XrayOracle


@pytest.fixture(scope="module")
def oracle() -> XrayOracle:
    return XrayOracle(XrayModel(SHIPPED_DIR))


def png_bytes(seed: int, index: int, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synth.scan(seed, index, **kw).image).save(buf, "PNG")
    return buf.getvalue()


def test_result_is_deterministic_and_names_image_and_model(oracle):
    data = png_bytes(606, 0, threats={"firearm": 1})
    sha = hashlib.sha256(data).hexdigest()
    req = {"image_b64": base64.b64encode(data).decode(), "image_sha256": sha}
    a, b = oracle.evaluate(req), oracle.evaluate(dict(req))
    assert a.result_hash == b.result_hash and a.output == b.output
    assert a.kind == int(att.XRAY) and a.subject == bytes.fromhex(sha)
    assert a.model_version == oracle.model.version_id
    att.model_version(a.model_version)  # fits bytes32
    out = a.output
    assert isinstance(out["threat"], bool) and isinstance(out["score"], float)
    assert out["threat"] == (out["verdict"] == "threat")
    assert out["score"] == max(out["scores"].values())
    assert out["image_sha256"] == sha


def test_image_by_cid_from_the_content_store(tmp_path):
    store = LocalStore(tmp_path, fsync=False)
    data = png_bytes(606, 1, size=256)
    cid = store.put(data)
    o = XrayOracle(XrayModel(SHIPPED_DIR), store)
    by_cid = o.evaluate({"image_cid": cid})
    by_bytes = o.evaluate({"image_b64": base64.b64encode(data).decode()})
    assert by_cid.output == by_bytes.output
    assert by_cid.subject == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "req, code",
    [
        ({}, "bad_request"),
        ({"image_b64": "***"}, "bad_request"),
        ({"image_b64": base64.b64encode(b"not an image").decode()}, "not_an_image"),
        ({"image_cid": "bafkreia"}, "bad_request"),  # no store on this instance
    ],
)
def test_bad_requests(oracle, req, code):
    with pytest.raises(OracleError) as info:
        oracle.evaluate(req)
    assert info.value.code == code


def test_a_wrong_image_hash_is_refused(oracle):
    data = png_bytes(606, 2, size=128)
    with pytest.raises(OracleError) as info:
        oracle.evaluate({"image_b64": base64.b64encode(data).decode(), "image_sha256": "ab" * 32})
    assert info.value.code == "image_hash_mismatch"
