"""offchain.transport_rules: each rule fires once when it should, never on a clean track."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from offchain.geo import default_index
from offchain.transport_rules import (
    DEFAULT_RULES,
    Alert,
    RuleParams,
    RulePipeline,
    SealState,
    TripContext,
)

T0 = 1_760_000_000.0
GEO = default_index()


def track(
    corridor: str = "KEL-KHH",
    start: float = 0.0,
    stop: float = 0.9,
    n: int = 2000,
    dt: float = 10.0,
):
    """Points along a corridor, ~55 km/h on KEL-KHH, seal closed: a dict of arrays."""
    lon, lat = GEO.corridors[corridor].points_along(np.linspace(start, stop, n))
    return {
        "ts": T0 + np.arange(n) * dt,
        "lat": lat.copy(),
        "lon": lon.copy(),
        "speed": np.full(n, 55.0),
        "seal": np.full(n, int(SealState.CLOSED)),
    }


def insert_stop(tr: dict, at: int, minutes: float, step_s: float = 60.0) -> dict:
    """Stand still at point `at` for `minutes` (speed 0), then drive on; later points shift."""
    k = int(minutes * 60 / step_s)
    stop_ts = tr["ts"][at] + step_s * np.arange(1, k + 1)
    shift = stop_ts[-1] - tr["ts"][at]
    out = {}
    for key, arr in tr.items():
        if key == "ts":
            mid, tail = stop_ts, arr[at + 1 :] + shift
        elif key == "speed":
            mid, tail = np.zeros(k), arr[at + 1 :]
        else:
            mid, tail = np.repeat(arr[at], k), arr[at + 1 :]
        out[key] = np.concatenate([arr[: at + 1], mid, tail])
    return out


def run(
    tr: dict, ctx: TripContext | None = None, batch: int | None = None, pipeline=None, **ctx_kw
):
    pipeline = pipeline or RulePipeline()
    ctx = ctx or TripContext("TRIP-1", "KEL-KHH", "TW-KEL", "TW-KHH", **ctx_kw)
    n = tr["ts"].size
    step = batch or n
    alerts: list[Alert] = []
    for i in range(0, n, step):
        j = i + step
        alerts += pipeline.evaluate(
            ctx, tr["ts"][i:j], tr["lat"][i:j], tr["lon"][i:j], tr["speed"][i:j], tr["seal"][i:j]
        )
    return alerts


def kinds(alerts: list[Alert]) -> Counter:
    return Counter(a.kind for a in alerts)


# ----------------------------------------------------------------------------- clean tracks


def test_track_along_the_corridor_raises_nothing():
    assert run(track()) == []
    assert run(track(), batch=37) == []


@pytest.mark.parametrize("corridor", sorted(GEO.corridors))
def test_every_corridor_driven_end_to_end_only_arrives(corridor):
    c = GEO.corridors[corridor]
    ctx = TripContext("T", corridor, c.from_zone, c.to_zone, deadline=T0 + 10 * 86400)
    alerts = run(track(corridor, 0.0, 1.0, n=3000, dt=8.0), ctx=ctx)
    assert [(a.kind, a.severity) for a in alerts] == [("arrived", "info")]


# ----------------------------------------------------------------------------- left_corridor


def detour(tr: dict, first: int = 600, km: float = 2.0) -> dict:
    """Drift ~km east over 20 points, stay 40 points, drift back over 20: a plausible detour."""
    ramp = np.concatenate([np.linspace(0, 1, 20), np.ones(40), np.linspace(1, 0, 20)])
    lat0 = tr["lat"][first]
    tr["lon"][first : first + ramp.size] += ramp * km * 1000 / (111_320 * np.cos(np.radians(lat0)))
    return tr


@pytest.mark.parametrize("batch", [None, 7, 50])
def test_two_km_detour_raises_left_corridor_once(batch):
    alerts = run(detour(track()), batch=batch)
    assert kinds(alerts) == {"left_corridor": 1}, alerts
    assert "m from corridor KEL-KHH (buffer 500 m)" in alerts[0].detail


def test_two_separate_detours_raise_two_alerts_and_small_wobble_none():
    assert kinds(run(detour(detour(track(), 600), 1200))) == {"left_corridor": 2}
    assert run(detour(track(), km=0.3)) == []


# ----------------------------------------------------------------------------- long_stop


@pytest.mark.parametrize("batch", [None, 5, 64])
def test_45_minute_stop_outside_a_zone_raises_long_stop_once(batch):
    tr = insert_stop(track(), at=700, minutes=45)
    alerts = run(tr, batch=batch)
    assert kinds(alerts) == {"long_stop": 1}
    assert alerts[0].ts == pytest.approx(tr["ts"][700] + 30 * 60)
    assert "stopped 30 min outside any zone" in alerts[0].detail


def test_short_stop_and_stop_inside_a_zone_raise_nothing():
    assert run(insert_stop(track(), at=700, minutes=20)) == []
    tr = track()
    assert GEO.zone_of(tr["lon"][:1], tr["lat"][:1])[0] == "TW-KEL"
    assert run(insert_stop(tr, at=0, minutes=45)) == []  # waiting inside Keelung port


def test_long_stop_threshold_is_a_parameter():
    pipeline = RulePipeline(params=RuleParams(long_stop_min=15))
    assert kinds(run(insert_stop(track(), at=700, minutes=20), pipeline=pipeline)) == {
        "long_stop": 1
    }


# ----------------------------------------------------------------------------- seal


@pytest.mark.parametrize("state", [SealState.OPEN, SealState.TAMPERED])
def test_seal_open_outside_zones_raises_once(state):
    tr = track()
    tr["seal"][800:830] = int(state)
    alerts = run(tr, batch=11)
    assert kinds(alerts) == {"seal_open_outside_zone": 1}
    assert alerts[0].ts == tr["ts"][800] and alerts[0].severity == "critical"
    assert state.name in alerts[0].detail


def test_seal_open_inside_a_zone_raises_nothing():
    tr = track("KEL-KHH", 0.0, 1.0, n=3000, dt=8.0)
    zones = GEO.zone_of(tr["lon"], tr["lat"])
    inside = zones != ""
    assert inside[:3].all() and inside[-3:].all()
    tr["seal"][inside] = int(SealState.OPEN)  # opened for inspection at origin and destination
    assert kinds(run(tr)) == {"arrived": 1}


# ----------------------------------------------------------------------------- signal_lost


def test_gap_longer_than_the_limit_raises_signal_lost():
    tr = track()
    keep = np.r_[0:500, 591:2000]  # 91 missing fixes at 10 s: a 15-minute gap
    gapped = {k: v[keep] for k, v in tr.items()}
    for batch in (None, 500, 13):
        alerts = run(gapped, batch=batch)
        assert kinds(alerts) == {"signal_lost": 1}
        assert alerts[0].ts == tr["ts"][591] and "no position for 15 min" in alerts[0].detail


def test_short_gap_raises_nothing():
    tr = track()
    keep = np.r_[0:500, 540:2000]  # 6.5 minutes
    assert run({k: v[keep] for k, v in tr.items()}) == []


def test_tick_raises_signal_lost_once_and_resume_does_not_repeat_it():
    pipeline = RulePipeline()
    ctx = TripContext("TRIP-1", "KEL-KHH", "TW-KEL", "TW-KHH")
    tr = track()
    head = {k: v[:500] for k, v in tr.items()}
    tail = {k: v[591:] for k, v in tr.items()}
    assert run(head, ctx=ctx, pipeline=pipeline) == []
    last = float(tr["ts"][499])
    assert pipeline.tick(ctx, last + 5 * 60) == []
    lost = pipeline.tick(ctx, last + 11 * 60)
    assert kinds(lost) == {"signal_lost": 1}
    assert pipeline.tick(ctx, last + 14 * 60) == []
    assert run(tail, ctx=ctx, pipeline=pipeline) == []


# ----------------------------------------------------------------------------- arrived / deadline


def test_arrival_when_entering_the_destination():
    tr = track("KEL-KHH", 0.0, 1.0, n=3000, dt=8.0)
    first_in = int(np.flatnonzero(GEO.zone_of(tr["lon"], tr["lat"]) == "TW-KHH")[0])
    for batch in (None, 100, 997):
        alerts = run(tr, batch=batch)
        assert [a.kind for a in alerts] == ["arrived"]
        assert alerts[0].ts == tr["ts"][first_in]
    assert run(track(stop=0.95)) == []  # the origin zone is not the destination


def test_deadline_passed_once_and_not_when_arrived_in_time():
    tr = track("KEL-KHH", 0.0, 1.0, n=3000, dt=8.0)
    deadline = T0 + 3600
    alerts = run(tr, batch=250, deadline=deadline)
    assert kinds(alerts) == {"deadline_passed": 1, "arrived": 1}
    late = next(a for a in alerts if a.kind == "deadline_passed")
    assert late.ts == tr["ts"][tr["ts"] > deadline][0]
    assert kinds(run(tr, deadline=T0 + 86_400)) == {"arrived": 1}


def test_tick_raises_deadline_with_no_points():
    pipeline = RulePipeline()
    ctx = TripContext("T", "KEL-KHH", "TW-KEL", "TW-KHH", deadline=T0 + 60)
    assert pipeline.tick(ctx, T0) == []
    assert kinds(pipeline.tick(ctx, T0 + 120)) == {"deadline_passed": 1}
    assert pipeline.tick(ctx, T0 + 180) == []


# ----------------------------------------------------------------------------- gps_jump


def test_gps_jump_raises_once_for_a_spoofed_fix():
    tr = track()
    tr["lon"][900] += 0.2  # ~20 km east for one fix, then back: one episode
    alerts = run(tr, batch=900)  # the jump straddles a batch boundary
    assert kinds(alerts)["gps_jump"] == 1
    jump = next(a for a in alerts if a.kind == "gps_jump")
    assert jump.ts == tr["ts"][900] and jump.severity == "critical"


def test_gps_jump_on_identical_timestamps():
    tr = track()
    tr["ts"][901:] -= 10.0  # fix 901 carries fix 900's timestamp but is 150 m further on
    assert kinds(run(tr)) == {"gps_jump": 1}


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lat", np.nan, "invalid coordinates"),
        ("lon", np.nan, "invalid coordinates"),
        ("lat", 91.0, "invalid coordinates"),
        ("lon", -200.0, "invalid coordinates"),
        ("ts", np.nan, "timestamps must be finite"),
        ("speed", np.nan, "speed must be finite"),
        ("speed", -1.0, "speed must be finite"),
        ("seal", 7, "seal codes must be"),
    ],
)
def test_bad_points_raise_value_error_and_leave_state_alone(key, value, message):
    pipeline = RulePipeline()
    ctx = TripContext("T", "KEL-KHH", "TW-KEL", "TW-KHH")
    tr = track(n=50)
    tr[key][17] = value
    with pytest.raises(ValueError, match=message):
        run(tr, ctx=ctx, pipeline=pipeline)
    assert ctx.state.last_ts is None and ctx.state.open == {}


def test_time_going_backwards_is_refused_within_and_across_batches():
    pipeline = RulePipeline()
    ctx = TripContext("T", "KEL-KHH", "TW-KEL", "TW-KHH")
    tr = track(n=50)
    swapped = {k: v.copy() for k, v in tr.items()}
    swapped["ts"][[10, 11]] = swapped["ts"][[11, 10]]
    with pytest.raises(ValueError, match="back in time"):
        run(swapped, ctx=ctx, pipeline=pipeline)
    run(tr, ctx=ctx, pipeline=pipeline)
    with pytest.raises(ValueError, match="back in time"):
        run({k: v[:5] for k, v in tr.items()}, ctx=ctx, pipeline=pipeline)


def test_unknown_corridor_or_zone_and_ragged_arrays():
    tr = track(n=10)
    with pytest.raises(KeyError, match="unknown corridor"):
        run(tr, ctx=TripContext("T", "NOPE", "TW-KEL", "TW-KHH"))
    with pytest.raises(ValueError, match="unknown destination zone 'TW-XXX'"):
        run(tr, ctx=TripContext("T", "KEL-KHH", "TW-KEL", "TW-XXX"))
    with pytest.raises(ValueError, match="one length"):
        RulePipeline().evaluate(
            TripContext("T", "KEL-KHH", "TW-KEL", "TW-KHH"),
            tr["ts"],
            tr["lat"],
            tr["lon"],
            tr["speed"][:5],
            tr["seal"],
        )


# ----------------------------------------------------------------------------- rule isolation


class Broken:
    """A rule with a bug: it raises on every batch and every tick."""

    kind, severity = "broken", "warning"

    def evaluate(self, ctx, batch, params):
        raise ZeroDivisionError("bug in the rule")

    def tick(self, ctx, now, params):
        raise KeyError("bug in the tick")


def test_a_rule_that_raises_loses_none_of_the_other_rules_alerts(caplog):
    tr = track()
    tr["seal"][800:830] = int(SealState.TAMPERED)
    pipeline = RulePipeline(rules=(Broken(), *DEFAULT_RULES))
    with caplog.at_level("ERROR", logger="offchain.transport_rules"):
        alerts = run(tr, batch=1000, pipeline=pipeline)
    assert kinds(alerts) == {"seal_open_outside_zone": 1, "rule_failed": 2}
    failed = [a for a in alerts if a.kind == "rule_failed"]
    assert [a.ts for a in failed] == [tr["ts"][0], tr["ts"][1000]]
    assert all(a.severity == "warning" for a in failed)
    assert "broken (ZeroDivisionError: bug in the rule)" in failed[0].detail
    assert "1000 point(s) from 2025-10-09T08:53:20Z" in failed[0].detail
    assert len(caplog.records) == 2 and caplog.records[0].exc_info is not None
    assert "rule broken failed" in caplog.records[0].getMessage()


def test_a_rule_that_raises_on_a_tick_keeps_the_other_rules_alerts():
    pipeline = RulePipeline(rules=(*DEFAULT_RULES, Broken()))
    ctx = TripContext("T", "KEL-KHH", "TW-KEL", "TW-KHH", deadline=T0 + 60)
    alerts = pipeline.tick(ctx, T0 + 120)
    assert kinds(alerts) == {"deadline_passed": 1, "rule_failed": 1}
    assert alerts[-1].ts == T0 + 120 and "broken (KeyError" in alerts[-1].detail


# ----------------------------------------------------------------------------- combined, speed


def test_alerts_do_not_depend_on_batching():
    tr = detour(insert_stop(track(), at=300, minutes=40), first=1200)
    tr["seal"][1500:1510] = int(SealState.TAMPERED)
    tr["lon"][1700] += 0.1
    whole = run(tr, deadline=T0 + 7200)
    assert set(kinds(whole)) == {
        "long_stop",
        "left_corridor",
        "seal_open_outside_zone",
        "gps_jump",
        "deadline_passed",
    }
    for batch in (1, 3, 128):
        assert run(tr, batch=batch, deadline=T0 + 7200) == whole
