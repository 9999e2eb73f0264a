"""Fine-tuning (needs torch, the `train` extra): weights load back from ONNX, one step runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oracles.xray import synth
from oracles.xray.errors import XrayError
from oracles.xray.model import SHIPPED_DIR, XrayModel
from oracles.xray.preprocess import letterbox, to_input

torch = pytest.importorskip("torch", reason="fine-tuning needs torch: pip install '.[train]'")


def test_onnx_weights_load_back_and_one_step_writes_a_valid_model(tmp_path):
    from oracles.xray import train

    base = SHIPPED_DIR / json.loads((SHIPPED_DIR / "manifest.json").read_text())["file"]
    samples = []
    for i, cls in enumerate(("firearm", "meat")):
        x, _ = letterbox(synth.scan(5150, i, threats={cls: 1}, size=256).image)
        y = np.array([c == cls for c in synth.CLASSES], np.float32)
        samples.append((x, y, np.ones(len(synth.CLASSES), np.float32)))
    net = train.net_from_onnx(base)
    xs = np.stack([s[0] for s in samples])
    assert np.abs(train.predict_torch(net, xs) - train.onnx_scores(base, xs)).max() < 1e-4
    out = tmp_path / "ft" / "xray.onnx"
    info = train.finetune(base, samples, out, steps=1, batch=2, replay=0)
    assert info["steps"] == 1 and info["export_diff"] < 1e-4 and out.stat().st_size > 0
    manifest = {
        **json.loads((SHIPPED_DIR / "manifest.json").read_text()),
        "sha256": train.sha256_file(out),
        "version": "test-ft1",
    }
    train.write_manifest(out.parent, manifest)
    assert XrayModel(out.parent).version_id.startswith("xray-test-ft1+")


def test_finetune_without_feedback_says_what_to_do(tmp_path):
    from oracles.xray import train

    with pytest.raises(XrayError) as info:
        train.finetune(SHIPPED_DIR / "xray.onnx", [], tmp_path / "x.onnx")
    assert info.value.code == "no_feedback"


def test_retrain_from_officer_feedback_writes_and_activates_a_version(tmp_path):
    import io

    from PIL import Image

    from offchain.cas import LocalStore
    from offchain.db import Database
    from offchain.settings import Settings
    from oracles.xray.config import load_model
    from oracles.xray.retrain import retrain
    from oracles.xray.service import XrayService

    settings = Settings(home=tmp_path / "var")
    db = Database(tmp_path / "node.sqlite")
    svc = XrayService(db, LocalStore(tmp_path / "cas", fsync=False), load_model(settings))
    buf = io.BytesIO()
    Image.fromarray(synth.scan(5151, 0, threats={"knife": 1}, size=256).image).save(buf, "PNG")
    rec = svc.scan(buf.getvalue(), user="officer")
    svc.feedback(rec["scan_id"], "knife", "confirm", user="officer")
    out = retrain(settings, svc, steps=1, replay=0, check=0, do_activate=True)
    assert out["version"].endswith("-ft1") and out["feedback"] == 1
    assert out["confirmed"]["knife"] == 1
    active = load_model(settings)
    assert active.version == out["version"] and active.sha256 == out["sha256"]
    assert active.manifest["parent"]["sha256"] == svc.model.sha256
    db.close()


def _scans(display: str, n: int = 3) -> np.ndarray:
    return np.stack(
        [letterbox(synth.scan(5160, i, size=256, display=display).image)[0] for i in range(n)]
    )


def test_a_routed_model_answers_with_the_expert_of_the_pictures_kind(tmp_path):
    """Colour scans go to the colour expert, greyscale scans (R = G = B, as real
    single-energy exports are) to the grey expert; the routing is inside the ONNX graph and
    the weights of both experts load back from it by name."""
    from oracles.xray import train

    torch.manual_seed(0)
    colour, grey = train.build_net(fused=True), train.build_net(fused=True)
    net = train.build_routed(colour, grey).eval()
    xc, xg = _scans("colour"), _scans("grey")
    assert train.colour_weight_np(xc).tolist() == [1.0] * 3
    assert train.colour_weight_np(xg).tolist() == [0.0] * 3
    assert np.allclose(train.predict_torch(net, xc), train.predict_torch(colour, xc))
    assert np.allclose(train.predict_torch(net, xg), train.predict_torch(grey, xg))
    assert np.allclose(train.predict_scan(net, xg), train.predict_scan(grey, xg))
    assert not np.allclose(train.predict_torch(colour, xg), train.predict_torch(grey, xg))
    path = tmp_path / "routed.onnx"
    x = np.concatenate([xc, xg])
    assert train.export_onnx(net, path, x) < 1e-4
    back = train.net_from_onnx(path)
    assert np.abs(train.predict_torch(back, x) - train.onnx_scores(path, x)).max() < 1e-5
    alone = train.net_from_onnx(path, expert="grey")
    assert np.abs(train.predict_torch(alone, xg) - train.onnx_scores(path, xg)).max() < 1e-5


def test_experts_sharing_layers_load_back_from_onnx(tmp_path):
    """An expert that took its first layers unchanged from the other (frozen in training)
    holds them identically; the exporter keeps one copy, and both experts still load."""
    from oracles.xray import train

    torch.manual_seed(1)
    colour, grey = train.build_net(fused=True), train.build_net(fused=True)
    grey.features[0].load_state_dict(colour.features[0].state_dict())
    net = train.build_routed(colour, grey).eval()
    x = np.concatenate([_scans("colour", 2), _scans("grey", 2)])
    path = tmp_path / "shared.onnx"
    train.export_onnx(net, path, x)
    back = train.net_from_onnx(path)
    assert np.abs(train.predict_torch(back, x) - train.onnx_scores(path, x)).max() < 1e-5


def test_zoomed_scans_keep_every_threat_cell():
    from oracles.xray import train
    from oracles.xray.preprocess import GRID

    s = synth.scan(5161, 0, size=256, threats={"firearm": 1}, masks=True)
    x, lb = letterbox(s.image)
    f = synth.CLASSES.index("firearm")
    cells = np.zeros((len(synth.CLASSES), GRID, GRID), np.float32)
    cells[f] = train.mask_cells(s.masks[f], lb.scale, (lb.pad_x, lb.pad_y))
    rng = np.random.default_rng(1)
    for _ in range(12):
        zx, zc = train.zoom_view(x, cells, rng)
        assert zx.shape == x.shape and zc.shape == cells.shape
        assert zc[f].sum() > 0.5 * min(cells[f].sum(), 1)  # the gun is still in the picture
        assert zc[[i for i in range(len(synth.CLASSES)) if i != f]].max() == 0


def test_weighted_platt_scaling_counts_a_sample_twice_like_a_copy():
    from oracles.xray import train

    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, 200)
    y = (z + rng.normal(0, 1.5, 200) > 0).astype(float)
    w = np.where(np.arange(200) < 50, 2.0, 1.0)
    a = train.fit_platt(z, y, w)
    b = train.fit_platt(np.concatenate([z, z[:50]]), np.concatenate([y, y[:50]]))
    assert np.allclose(a, b, atol=1e-3)
    assert not np.allclose(a, train.fit_platt(z, y), atol=1e-3)


def test_freezing_the_features_and_class_head_trains_the_scan_head_alone():
    """`freeze=9` (the eight convolutions of the features, then the class head) keeps a
    network's class maps exactly as they were: how a colour expert learns the scan gate
    without losing what it knew about dual-energy scans."""
    from oracles.xray import train

    torch.manual_seed(0)
    net = train.build_net(fused=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    data = train.render_set(5162, 4, workers=1)
    sources = train.Sources(
        data, None, train.nonscan_set(5162, 4, []), grey_share=0.0, per_batch=(2, 0, 2)
    )
    out = train.train(
        sources,
        {"synthetic": (data[0], data[2])},
        epochs=1,
        lr=1e-2,
        init=net,
        steps_per_epoch=2,
        freeze=9,
    )
    after = out.state_dict()
    kept = [k for k in before if not k.startswith("scan.")]
    assert kept and all(torch.equal(before[k], after[k]) for k in kept)
    assert not torch.equal(before["scan.weight"], after["scan.weight"])


def test_a_head_refit_changes_only_the_class_head_and_learns_its_labels():
    """`refit_head` (how 2.2.0's grey expert was made) moves the class head towards the
    labels it is given -- here the opposite of what a fresh net says -- and touches neither
    the convolutions nor the scan head the gate depends on; the negatives it is given end
    with lower scores than before."""
    from oracles.xray import train

    torch.manual_seed(0)
    net = train.build_net(fused=True)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    scans = train.render_set(5163, 6, workers=1)[0]
    negatives = train.nonscan_set(5163, 4, [])
    pos = train.predict_torch(net, scans)
    neg_before = train.predict_torch(net, negatives).max()
    flipped = (pos < np.median(pos, axis=0)).astype(np.float32)  # labels it did not predict
    fit = train.HeadFit(steps=60, lr=5e-2, negative_weight=1.0)
    losses = train.refit_head(net, scans, flipped, negatives, fit)
    assert losses["last_loss"] < losses["first_loss"]
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("head."))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert train.predict_torch(net, negatives).max() < neg_before


def _refit_moves_the_class_head_only(net, xg, before, seed: int, head_prefixes) -> set:
    """Refit `net`'s class head on labels cut from its own logits `before`: the loss falls,
    only the class head (`head.` and `head_prefixes`) moves, negatives end lower; returns
    the names of the parameters that moved."""
    from oracles.xray import train

    negatives = train.nonscan_set(seed, 4, [])
    neg_before = train.predict_torch(net, negatives).max()
    kept = {k: v.clone() for k, v in net.state_dict().items()}
    labels = (before < np.median(before, axis=0)).astype(np.float32)
    fit = train.HeadFit(steps=40, lr=5e-2, negative_weight=1.0)
    losses = train.refit_head(net, xg, labels, negatives, fit)
    assert losses["last_loss"] < losses["first_loss"]
    after = net.state_dict()
    moved = {k for k in kept if not torch.equal(kept[k], after[k])}
    assert all(k.startswith(("head.", *head_prefixes)) for k in moved)
    assert train.predict_torch(net, negatives).max() < neg_before
    return moved


def _calibrates_exports_and_loads_back(colour, grey, xc, xg, path):
    """Platt scaling folded into `grey`'s head is a * logit + b; beside `colour` it exports
    to `path` and loads back computing what onnxruntime computes; returns what loaded."""
    from oracles.xray import train

    z = train.predict_torch(grey, xg, logits=True)
    a, b = [1.5, 0.5, 2.0, 1.0], [0.1, -0.2, 0.3, 0.0]
    train.calibrate(grey, a, b)
    assert np.allclose(train.predict_torch(grey, xg, logits=True), np.multiply(a, z) + b, atol=1e-4)
    x = np.concatenate([xc, xg])
    assert train.export_onnx(train.build_routed(colour, grey).eval(), path, x) < 1e-4
    back = train.net_from_onnx(path)
    assert np.abs(train.predict_torch(back, x) - train.onnx_scores(path, x)).max() < 1e-5
    return back


def test_a_hidden_class_head_starts_as_the_linear_one_refits_calibrates_and_loads_back(tmp_path):
    """A grey expert given a hidden class-head layer (`widen_head`, how 2.3.0's was made)
    first computes exactly what it did; refitted, only its class head moves and its
    negatives end lower; Platt scaling folded into both paths is a * logit + b; beside a
    linear colour expert it exports, and each expert loads back from the ONNX file with
    the head it had -- the retrain path (`finetune`) starts from exactly that."""
    from oracles.xray import train

    torch.manual_seed(0)
    colour, grey = train.build_net(fused=True).eval(), train.build_net(fused=True).eval()
    rendered = train.render_set(5164, 6, workers=1)
    xc, xg = rendered[0], train.grey_rgb(rendered[1])
    wide = train.widen_head(grey, 8)
    assert train.hidden_width(wide) == 8 and train.hidden_width(grey) == 0
    before = train.predict_torch(wide, xg, logits=True)
    assert np.array_equal(before, train.predict_torch(grey, xg, logits=True))

    moved = _refit_moves_the_class_head_only(wide, xg, before, 5164, train.HIDDEN_HEAD)
    assert {"head_hidden.weight", "head_out.weight"} <= moved

    back = _calibrates_exports_and_loads_back(colour, wide, xc, xg, tmp_path / "hidden.onnx")
    assert (train.hidden_width(back.colour), train.hidden_width(back.grey)) == (0, 8)


def test_widening_a_head_that_is_not_linear_says_so():
    from oracles.xray import train

    with pytest.raises(XrayError) as info:
        train.widen_head(train.build_net(fused=True, hidden=4), 8)
    assert info.value.code == "model_invalid"


def test_unpacking_the_shipped_model_gives_its_experts_without_calibration(tmp_path, train_script):
    """`scripts/train/xray.py --stage unpack` (how 2.3.0 started from 2.2.0): each expert
    saved with its Platt scaling taken out; folding the manifest's scaling back in gives
    the shipped scores again, so later stages start from exactly the model in service."""
    import argparse

    from oracles.xray import train

    script = train_script
    args = argparse.Namespace(init=None, out=SHIPPED_DIR, work=tmp_path)
    script.stage_unpack(args, lambda m: None)
    manifest = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    for kind in ("colour", "grey"):
        x = _scans(kind)
        net = script._load_expert(tmp_path / f"{kind}.pt")
        raw = train.predict_torch(net, x, logits=True)
        cal = manifest["calibration"][kind]
        a = [cal["a"][c] for c in train.CLASSES]
        b = [cal["b"][c] for c in train.CLASSES]
        shipped = train.predict_torch(
            train.net_from_onnx(SHIPPED_DIR / "xray.onnx", expert=kind), x, logits=True
        )
        assert np.abs(np.multiply(a, raw) + b - shipped).max() < 1e-4
        assert (
            json.loads((tmp_path / f"{kind}.json").read_text())["unpacked_from"]["version"]
            == manifest["version"]
        )


def test_a_refit_on_each_pictures_top_cells_starts_from_the_same_loss_as_on_all_cells():
    """`HeadFit(cells=k)` keeps, per class, each picture's k cells where the head is highest:
    a class's image score is the max of its map, so before any step the loss is exactly the
    all-cells one (cutting by the highest cells over all classes was not: 0.6908 / 0.6911)."""
    from oracles.xray import train

    torch.manual_seed(3)
    net = train.widen_head(train.build_net(fused=True).eval(), 8)
    x = train.grey_rgb(train.render_set(5165, 4, workers=1)[1])
    neg = train.nonscan_set(5165, 3, [])
    cells, negs = train.cell_features(net, x), train.cell_features(net, neg)
    labels = np.eye(len(synth.CLASSES), dtype=np.float32)[[0, 1, 2, 3]]
    every = train.refit_head_on(net, cells, labels, negs, train.HeadFit(steps=1, lr=0.0))
    top = train.refit_head_on(net, cells, labels, negs, train.HeadFit(steps=1, lr=0.0, cells=3))
    assert cells.shape[2] > 3 * 4 and top["first_loss"] == pytest.approx(
        every["first_loss"], abs=1e-6
    )


def test_unpacking_a_model_that_is_not_its_manifests_or_is_missing_says_so(tmp_path, train_script):
    import argparse
    import shutil

    script = train_script
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SHIPPED_DIR / "manifest.json", other / "manifest.json")
    (other / "xray.onnx").write_bytes((SHIPPED_DIR / "xray.onnx").read_bytes()[:-1] + b"\0")
    for init, words in (
        (other / "xray.onnx", "sha256 differs"),
        (tmp_path / "none.onnx", "beside it"),
    ):
        with pytest.raises(SystemExit) as info:
            script.stage_unpack(
                argparse.Namespace(init=init, out=SHIPPED_DIR, work=tmp_path / "w"), print
            )
        assert words in str(info.value)
    assert not (tmp_path / "w" / "grey.pt").exists()


def test_a_whole_picture_term_starts_at_zero_refits_calibrates_and_loads_back(tmp_path):
    """A grey expert whose class head gains a whole-picture term (`with_context`, how
    2.5.0's was made) first computes exactly what it did; refitted, only its class head
    moves, its negatives end lower, and the term shifts each class map as a whole (boxes
    stay where the cells see the object); Platt scaling folds into every path; beside a
    plain colour expert it exports and each expert loads back with the head it had -- the
    retrain path (`finetune`) starts from exactly that.  Its term is a mean over every cell,
    so a fit on selected cells is refused."""
    from oracles.xray import train

    torch.manual_seed(3)
    colour, grey = train.build_net(fused=True).eval(), train.build_net(fused=True).eval()
    rendered = train.render_set(5166, 6, workers=1)
    xc, xg = rendered[0], train.grey_rgb(rendered[1])
    ctx = train.with_context(grey)
    assert train.has_context(ctx) and not train.has_context(grey)
    before = train.predict_torch(ctx, xg, logits=True)
    assert np.array_equal(before, train.predict_torch(grey, xg, logits=True))

    labels = (before < np.median(before, axis=0)).astype(np.float32)
    with pytest.raises(XrayError) as info:
        train.refit_head(ctx, xg, labels, xg[:1], train.HeadFit(steps=1, cells=4))
    assert info.value.code == "model_invalid" and "every cell" in info.value.detail
    moved = _refit_moves_the_class_head_only(ctx, xg, before, 5166, (train.CONTEXT_HEAD,))
    assert "head_global.weight" in moved

    inp = torch.from_numpy(to_input(xg))
    with torch.no_grad():
        f = ctx.features(inp)
        shift = ctx.classify(f) - ctx.head(f)  # the whole-picture term alone
    assert shift.abs().max() > 0
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)

    path = tmp_path / "context.onnx"
    back = _calibrates_exports_and_loads_back(colour, ctx, xc, xg, path)
    assert (train.has_context(back.colour), train.has_context(back.grey)) == (False, True)
    alone = train.net_from_onnx(path, expert="grey")
    assert np.abs(train.predict_torch(alone, xg) - train.onnx_scores(path, xg)).max() < 1e-5


def test_a_whole_picture_term_with_selected_cells_fails_before_any_work(train_script, tmp_path):
    """`--stage head --context` fits every cell; with `--hidden` (16 cells) or `--cells` it
    says so at once, not after minutes of features."""
    import argparse

    for extra in ({"hidden": 8, "cells": None}, {"hidden": 0, "cells": 4}):
        args = argparse.Namespace(context=True, work=tmp_path, **extra)
        with pytest.raises(SystemExit, match="--context is fitted on every cell"):
            train_script.stage_head(args, None, lambda m: None)
