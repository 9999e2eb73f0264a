"""The scan gate: pictures that are not X-ray scans get no verdict, no threat and no alert;
scans of both kinds (dual-energy colour, single-energy grey) go through.

Every case the issue names has its own test: blank, flat colour, black, white, random
noise, photographs, screenshots, drawings, tiny images and animated images.  The
photographs are kept out of training (fixtures/photos/README.md); drawings and screenshots
are drawn here or generated with seeds training never used.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from offchain.cas import LocalStore
from offchain.db import Database
from oracles.base import OracleError
from oracles.xray import gate, nonscan, synth
from oracles.xray.errors import XrayError
from oracles.xray.image import load_image
from oracles.xray.model import SHIPPED_DIR, XrayModel
from oracles.xray.oracle import XrayOracle
from oracles.xray.service import XrayService

PHOTOS = Path(__file__).parent / "fixtures" / "photos"
TEST_SEED = 990_001  # never a training seed (training uses 1-3 and 11-13)


@pytest.fixture(scope="module")
def model() -> XrayModel:
    return XrayModel(SHIPPED_DIR)


def refused(model: XrayModel, img: Image.Image, why: str | None = None) -> str:
    """Assert `img` is refused as not a scan, with no scores and no threats; the reason."""
    det = model.detect(img.convert("RGB"))
    assert det.verdict == "not_a_scan", (det.scores, det.scan)
    assert det.threats == [] and det.scores == {}
    with pytest.raises(XrayError) as info:
        det.require_scan()
    assert info.value.code == "not_a_scan" and info.value.http_status == 422
    assert info.value.detail == det.not_a_scan
    if why:
        assert why in det.not_a_scan
    return det.not_a_scan


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


# --- one test per kind of picture -----------------------------------------------------------


def test_blank_image(model):
    refused(model, Image.new("RGB", (300, 300), (128, 128, 128)), "flat colour")


def test_black_image(model):
    """The issue's example: judged `firearm 0.96, meat 0.87` before the gate."""
    refused(model, Image.new("RGB", (300, 300), (0, 0, 0)), "flat colour")


def test_white_image(model):
    refused(model, Image.new("RGB", (800, 600), (255, 255, 255)), "flat colour")


@pytest.mark.parametrize("colour", [(200, 30, 30), (20, 160, 60), (250, 160, 40), (30, 60, 250)])
def test_flat_colour_images(model, colour):
    """Flat colours, including the display's own orange and blue."""
    refused(model, Image.new("RGB", (512, 384), colour), "flat colour")


def test_nearly_flat_image_with_sensor_noise(model):
    rng = np.random.default_rng(3)
    arr = np.clip(rng.normal(20, 1.0, (300, 300)), 0, 255).astype(np.uint8)
    refused(model, Image.fromarray(arr).convert("RGB"))


@pytest.mark.parametrize("kind", ["uniform", "gaussian", "salt_pepper", "colour"])
def test_random_noise(model, kind):
    rng = np.random.default_rng(11)
    if kind == "uniform":
        arr = rng.integers(0, 256, (400, 400), dtype=np.uint8)
    elif kind == "gaussian":
        arr = np.clip(rng.normal(128, 50, (400, 400)), 0, 255).astype(np.uint8)
    elif kind == "salt_pepper":
        arr = np.full((400, 400), 128, np.uint8)
        hit = rng.random((400, 400)) < 0.3
        arr[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)
    else:
        arr = rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert("RGB")
    refused(model, img, "noise")


@pytest.mark.parametrize("sigma", [2, 4, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_smoothed_random_noise(model, sigma, channels):
    """Random noise blurred into clouds passes the noise rule (little pixel-to-pixel
    contrast); 2.5.0 judged the grey sigma-4 field a threat (drugs 0.58) and sigma 8-32
    "clear". Its neighbouring-pixel differences are Gaussian: no object edges."""
    rng = np.random.default_rng(40 + sigma)
    field = ndimage.gaussian_filter(rng.random((400, 400, channels)), (sigma, sigma, 0))
    field = (field - field.min()) / np.ptp(field) * 255
    img = Image.fromarray(field.astype(np.uint8).squeeze()).convert("RGB")
    assert gate.statistics(img)["hf"] <= gate.NOISE_HF  # not what the noise rule refuses
    refused(model, img, "no object edges")


def test_a_smooth_gradient_has_no_object_edges(model):
    ramp = np.tile(np.linspace(30, 220, 400), (300, 1)).astype(np.uint8)
    refused(model, Image.fromarray(ramp).convert("RGB"), "no object edges")


@pytest.mark.parametrize(
    "name",
    [
        "rocket",
        "chelsea",
        pytest.param(
            "camera",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known gap (MODEL_CARD.md): a greyscale photograph of a dark figure "
                "against a bright sky looks like a transmission image to the scan head, and "
                "the model judges it; strict, so this fails loudly once a model refuses it",
            ),
        ),
    ],
)
def test_photographs(model, name):
    """Colour and greyscale photographs the model never saw in training."""
    img = load_image((PHOTOS / f"{name}.jpg").read_bytes()).image
    refused(model, img)
    refused(model, img.resize((img.width * 2, img.height * 2)))  # and larger


def test_screenshots(model):
    img = Image.new("RGB", (800, 500), (250, 250, 250))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=16)
    d.rectangle([0, 0, 800, 36], fill=(40, 90, 200))
    d.text((10, 8), "Smart Customs - declarations", fill=(255, 255, 255), font=font)
    for i, line in enumerate(["Declaration D-2025-0042", "Importer: ACME", "Status: lodged"]):
        d.text((20, 60 + 28 * i), line, fill=(20, 20, 20), font=font)
    d.rounded_rectangle([20, 200, 180, 236], 6, fill=(30, 140, 60))
    d.text((40, 208), "Submit", fill=(255, 255, 255), font=font)
    refused(model, img)
    for i in range(5):  # and generated ones, of a seed training never used
        refused(model, nonscan.screenshot(np.random.default_rng([TEST_SEED, i])))


def test_a_page_of_text(model):
    """Dense print is mostly pixel-to-pixel contrast: refused, and the reason names it."""
    img = Image.new("RGB", (600, 300), "white")
    d = ImageDraw.Draw(img)
    for i in range(8):
        d.text(
            (10, 10 + 35 * i),
            "Invoice 2025-0042 total 1,234.00 EUR",
            fill="black",
            font=ImageFont.load_default(size=28),
        )
    refused(model, img, "fine print")


def test_drawings(model):
    img = Image.new("RGB", (600, 400), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle([50, 50, 250, 200], outline=(0, 0, 0), width=3)
    d.ellipse([300, 80, 520, 300], fill=(220, 40, 40), outline=(0, 0, 0), width=2)
    d.line([(40, 350), (560, 260)], fill=(0, 0, 200), width=5)
    d.polygon([(100, 380), (200, 250), (260, 380)], fill=(250, 200, 0))
    refused(model, img)
    for i in range(5):
        refused(model, nonscan.drawing(np.random.default_rng([TEST_SEED, 100 + i])))


@pytest.mark.parametrize("ground, ink", [(255, 0), (200, 30), (255, 60)])
def test_a_silhouette_filling_most_of_the_picture(model, ground, ink):
    """A gun drawn as one filled shape covering over half the picture: its ground is under
    half, so the one-shade rule lets it through (2.5.0 then judged it a scan, "clear");
    figure and ground together are 97 % two exact shades."""
    img = Image.new("RGB", (320, 220), (ground,) * 3)
    outline = [(10, 10), (310, 10), (310, 90), (150, 90), (130, 210), (40, 210), (60, 90), (10, 90)]
    ImageDraw.Draw(img).polygon(outline, fill=(ink,) * 3)
    assert gate.statistics(img)["mode"] < gate.MODE_SHARE
    refused(model, img, "two exact shades")


@pytest.mark.parametrize("size", [(32, 32), (39, 400), (16, 16)])
def test_tiny_images(model, size):
    img = Image.fromarray(synth.scan(5, 0, size=64).image).resize(size)  # a scan, shrunk
    refused(model, img, "too small")


def test_animated_images_are_refused_before_any_verdict():
    frames = [Image.new("RGB", (64, 64), c) for c in [(0, 0, 0), (255, 255, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    with pytest.raises(XrayError) as info:
        load_image(buf.getvalue())
    assert info.value.code == "animated_image"


# --- scans go through -------------------------------------------------------------------------


@pytest.mark.parametrize("display", ["colour", "grey"])
def test_scans_of_both_kinds_are_judged(model, display):
    for i in range(12):
        s = synth.scan(TEST_SEED, i, size=384, display=display)
        det = model.detect(Image.fromarray(s.image))
        assert det.verdict in ("threat", "uncertain", "clear"), (display, i, det.not_a_scan)
        assert det.scan >= model.scan_threshold
        assert set(det.scores) == set(model.classes)


def test_greyscale_export_with_16_bit_depth_is_judged(model):
    s = synth.scan(TEST_SEED, 50, size=300, display="grey")
    grey16 = s.image[..., 0].astype(np.uint16) * 257
    loaded = load_image(encode(Image.fromarray(grey16)))
    assert loaded.source_mode.startswith("I;16")
    assert model.detect(loaded.image).verdict in ("threat", "uncertain", "clear")


def test_gate_statistics_are_rounded_and_repeatable():
    img = Image.fromarray(synth.scan(TEST_SEED, 0, size=256).image)
    a, b = gate.statistics(img), gate.statistics(img.copy())
    assert a == b and all(v == round(v, 4) for v in a.values())
    assert a["std"] > gate.FLAT_STD and a["hf"] < gate.NOISE_HF and a["mode"] < gate.MODE_SHARE
    assert a["mode"] <= a["two"] < gate.TWO_SHADES and a["edges"] >= gate.EDGE_KURTOSIS


# --- what a refusal means downstream: nothing kept, alerted or attested -----------------------


def test_the_oracle_answers_not_a_scan_so_there_is_nothing_to_attest(model):
    oracle = XrayOracle(model)
    blank = encode(Image.new("RGB", (300, 300), (0, 0, 0)))
    with pytest.raises(OracleError) as info:
        oracle.compute({"image_b64": base64.b64encode(blank).decode()})
    assert info.value.code == "not_a_scan" and info.value.http_status == 422
    scan = encode(Image.fromarray(synth.scan(TEST_SEED, 1, size=256).image))
    out = oracle.compute({"image_b64": base64.b64encode(scan).decode()})
    assert out["verdict"] in ("threat", "uncertain", "clear")
    assert out["alarm_rate"] == model.alarm_rate
    for t in out["threats"]:
        assert t["threshold"] == out["thresholds"][t["class"]] <= t["score"]


def test_the_oracle_attests_uncertain_as_its_own_verdict(model, uncertain_scan_png):
    """What clearance reads: `uncertain` true, `threat` false, the classes to look at and
    the rate of the band; instances agree (the output is rounded like every verdict)."""
    oracle = XrayOracle(model)
    request = {"image_b64": base64.b64encode(uncertain_scan_png).decode()}
    out = oracle.compute(request)
    assert out["verdict"] == "uncertain" and out["uncertain"] is True
    assert out["threat"] is False and out["threats"] == []
    assert out["review"] and out["review_rate"] == model.review_rate == 0.10
    assert oracle.compute(request) == out


def test_the_service_keeps_nothing_and_alerts_nobody(model, tmp_path):
    got: list[dict] = []
    db = Database(tmp_path / "node.sqlite")
    svc = XrayService(db, LocalStore(tmp_path / "cas", fsync=False), model, on_alert=got.append)
    with pytest.raises(XrayError) as info:
        svc.scan(encode(Image.new("RGB", (300, 300), (0, 0, 0))), user="o", declaration_id="D1")
    assert info.value.code == "not_a_scan"
    assert svc.list() == [] and svc.alerts(None) == [] and got == []
    db.close()


def test_the_scan_threshold_sits_a_fixed_margin_under_the_lowest_calibration_scan():
    t = gate.threshold_from_calibration(np.array([0.9, 0.5, 0.99]))
    # 2 logits under 0.5: 1 / (1 + e^2) = 0.1192
    assert t == 0.1192 and t == round(t, 4)
    assert gate.threshold_from_calibration(np.array([0.06, 0.8])) < 0.06 / 5
    assert gate.threshold_from_calibration(np.array([0.06, 0.8]), margin=0) == 0.06
