"""Rules over a bonded trip's GPS / seal track, evaluated a batch at a time.

One pipeline, small rule plug-ins (Traccar style): each rule is a class with a `kind`, a
`severity` and an `evaluate(ctx, batch, params)` that looks at whole numpy arrays and returns
only the alerts that *start* in this batch.  What a rule must remember between batches (an
excursion still open, when a stop began, whether the trip arrived) lives in the trip's
`TripState`, so a condition lasting 500 points, or spanning ten batches, raises one alert.
A new rule is a new small class added to `DEFAULT_RULES` or passed to `RulePipeline`.

Each rule runs on its own, as Traccar runs its event handlers: a rule that raises is logged
and reported as one `rule_failed` alert for the batch (or tick), and the other rules' alerts
of that batch are kept.  What the failed rule would have raised on those points is missing,
and the alert says which points they were.

Batches must be in time order per trip; `RulePipeline.evaluate` raises ValueError on NaN or
out-of-range coordinates, unknown seal codes, negative speeds and timestamps that go back in
time, because a rule computing on them would hide or invent alerts.  Ingestion refuses such
messages earlier; this is the second line.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from offchain.geo import NO_ZONE, GeoIndex, check_coordinates, default_index, project
from offchain.settings import TransportSettings


class SealState(IntEnum):
    """Seal state codes used in the `seal` array (the device message's seal.state)."""

    CLOSED = 0
    OPEN = 1
    TAMPERED = 2


INFO, WARNING, CRITICAL = "info", "warning", "critical"

# The alert raised when a rule itself fails: the batch was not fully checked.
RULE_FAILED = "rule_failed"

log = logging.getLogger(__name__)


_DEFAULTS = TransportSettings()


@dataclass(frozen=True)
class RuleParams:
    """Thresholds of the rules; the defaults are the settings' defaults (`[transport]`)."""

    stop_speed_kmh: float = _DEFAULTS.stop_speed_kmh  # at or below this: stopped
    long_stop_min: float = _DEFAULTS.long_stop_min  # stopped outside any zone longer: long_stop
    signal_lost_min: float = _DEFAULTS.signal_lost_min  # no position for longer: signal_lost
    max_speed_kmh: float = _DEFAULTS.max_speed_kmh  # implied speed between fixes above: gps_jump
    jump_min_m: float = 50.0  # two fixes at the same second further apart than this: gps_jump

    @classmethod
    def from_settings(cls, transport: TransportSettings) -> RuleParams:
        """The thresholds a node applies (`jump_min_m` is not a setting)."""
        return cls(
            stop_speed_kmh=transport.stop_speed_kmh,
            long_stop_min=transport.long_stop_min,
            signal_lost_min=transport.signal_lost_min,
            max_speed_kmh=transport.max_speed_kmh,
        )


@dataclass(frozen=True)
class Alert:
    """Something an officer should see; `ts` is Unix seconds of the point that raised it."""

    trip: str
    kind: str
    ts: float
    detail: str
    severity: str


@dataclass
class TripState:
    """What the rules carry from one batch of a trip to the next."""

    last_ts: float | None = None
    last_x: float = float("nan")
    last_y: float = float("nan")
    open: dict[str, bool] = field(default_factory=dict)  # episode in progress, per rule kind
    stop_start_ts: float | None = None
    arrived_ts: float | None = None
    deadline_alerted: bool = False
    signal_alerted_after: float | None = None  # last_ts for which tick() already raised


@dataclass
class TripContext:
    """A trip as the rules see it; `deadline` is Unix seconds (None: no deadline)."""

    trip: str
    corridor_id: str
    origin: str
    destination: str
    deadline: float | None = None
    state: TripState = field(default_factory=TripState)


class Batch:
    """One validated batch of a trip, with projected coordinates and zones computed once."""

    def __init__(
        self,
        geo: GeoIndex,
        corridor_id: str,
        ts: NDArray[np.float64],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        speed: NDArray[np.float64],
        seal: NDArray[np.int64],
        state: TripState,
    ) -> None:
        self.geo, self.corridor_id = geo, corridor_id
        self.ts, self.lon, self.lat, self.speed, self.seal = ts, lon, lat, speed, seal
        self.x, self.y = project(lon, lat)
        self.zone = geo.zone_of_xy(self.x, self.y)
        self.outside = self.zone == NO_ZONE
        self.prev_ts = np.nan if state.last_ts is None else state.last_ts
        self.prev_x, self.prev_y = state.last_x, state.last_y

    def __len__(self) -> int:
        return int(self.ts.size)

    @cached_property
    def corridor_distance(self) -> NDArray[np.float64]:
        """Metres from each point to the trip's corridor centre line (computed on first use)."""
        return self.geo.corridor_distance_xy(self.corridor_id, self.x, self.y)

    @cached_property
    def step_dt(self) -> NDArray[np.float64]:
        """Seconds since the previous fix (NaN for the trip's very first point)."""
        return np.diff(self.ts, prepend=self.prev_ts)

    @cached_property
    def step_m(self) -> NDArray[np.float64]:
        """Metres from the previous fix (NaN for the trip's very first point)."""
        return np.hypot(np.diff(self.x, prepend=self.prev_x), np.diff(self.y, prepend=self.prev_y))


def rising(cond: NDArray[np.bool_], was_open: bool) -> NDArray[np.intp]:
    """Indices where `cond` becomes true, given whether it was true at the previous point."""
    before = np.empty_like(cond)
    before[0] = was_open
    before[1:] = cond[:-1]
    return np.flatnonzero(cond & ~before)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Rule(Protocol):
    """A rule plug-in: look at a batch, return the alerts that start in it."""

    kind: ClassVar[str]
    severity: ClassVar[str]

    def evaluate(self, ctx: TripContext, batch: Batch, params: RuleParams) -> list[Alert]: ...

    def tick(self, ctx: TripContext, now: float, params: RuleParams) -> list[Alert]: ...


class EpisodeRule:
    """Base of rules raised once when a per-point condition starts to hold."""

    kind: ClassVar[str] = ""
    severity: ClassVar[str] = WARNING

    def condition(self, ctx: TripContext, batch: Batch, params: RuleParams) -> NDArray[np.bool_]:
        raise NotImplementedError

    def describe(self, ctx: TripContext, batch: Batch, i: int, params: RuleParams) -> str:
        raise NotImplementedError

    def evaluate(self, ctx: TripContext, batch: Batch, params: RuleParams) -> list[Alert]:
        cond = self.condition(ctx, batch, params)
        starts = rising(cond, ctx.state.open.get(self.kind, False))
        ctx.state.open[self.kind] = bool(cond[-1])
        return [
            Alert(
                ctx.trip,
                self.kind,
                float(batch.ts[i]),
                self.describe(ctx, batch, int(i), params),
                self.severity,
            )
            for i in starts
        ]

    def tick(self, ctx: TripContext, now: float, params: RuleParams) -> list[Alert]:
        return []


class Arrived(EpisodeRule):
    """The trip entered its destination zone (once per trip)."""

    kind, severity = "arrived", INFO

    def evaluate(self, ctx: TripContext, batch: Batch, params: RuleParams) -> list[Alert]:
        if ctx.state.arrived_ts is not None:
            return []
        hits = np.flatnonzero(batch.zone == ctx.destination)
        if hits.size == 0:
            return []
        i = int(hits[0])
        ctx.state.arrived_ts = float(batch.ts[i])
        return [
            Alert(
                ctx.trip,
                self.kind,
                ctx.state.arrived_ts,
                f"entered destination zone {ctx.destination}",
                INFO,
            )
        ]


class LeftCorridor(EpisodeRule):
    """Further from the approved corridor than its buffer while outside every zone."""

    kind, severity = "left_corridor", WARNING

    def condition(self, ctx: TripContext, batch: Batch, params: RuleParams) -> NDArray[np.bool_]:
        buffer_m = batch.geo.corridor(ctx.corridor_id).buffer_m
        return batch.outside & (batch.corridor_distance > buffer_m)

    def describe(self, ctx: TripContext, batch: Batch, i: int, params: RuleParams) -> str:
        buffer_m = batch.geo.corridor(ctx.corridor_id).buffer_m
        return (
            f"{batch.corridor_distance[i]:.0f} m from corridor {ctx.corridor_id} "
            f"(buffer {buffer_m:.0f} m) at lat {batch.lat[i]:.5f}, lon {batch.lon[i]:.5f}"
        )


class SealOpenOutsideZone(EpisodeRule):
    """Seal OPEN or TAMPERED outside every zone: a possible container swap."""

    kind, severity = "seal_open_outside_zone", CRITICAL

    def condition(self, ctx: TripContext, batch: Batch, params: RuleParams) -> NDArray[np.bool_]:
        return batch.outside & (batch.seal != SealState.CLOSED)

    def describe(self, ctx: TripContext, batch: Batch, i: int, params: RuleParams) -> str:
        return (
            f"seal {SealState(int(batch.seal[i])).name} outside any zone at lat {batch.lat[i]:.5f}, "
            f"lon {batch.lon[i]:.5f}: possible container swap"
        )


class GpsJump(EpisodeRule):
    """Implied speed between consecutive fixes above the limit: spoofing or a broken receiver."""

    kind, severity = "gps_jump", CRITICAL

    def condition(self, ctx: TripContext, batch: Batch, params: RuleParams) -> NDArray[np.bool_]:
        step_dt, step_m = batch.step_dt, batch.step_m
        with np.errstate(divide="ignore", invalid="ignore"):
            kmh = step_m / step_dt * 3.6
        same_second = (step_dt == 0) & (step_m > params.jump_min_m)
        return (step_dt > 0) & (kmh > params.max_speed_kmh) | same_second

    def describe(self, ctx: TripContext, batch: Batch, i: int, params: RuleParams) -> str:
        return (
            f"{batch.step_m[i]:.0f} m in {batch.step_dt[i]:.0f} s "
            f"(limit {params.max_speed_kmh:.0f} km/h) to lat {batch.lat[i]:.5f}, lon {batch.lon[i]:.5f}"
        )


class LongStop:
    """Stopped outside every zone for longer than `long_stop_min` (once per stop)."""

    kind: ClassVar[str] = "long_stop"
    severity: ClassVar[str] = WARNING

    def evaluate(self, ctx: TripContext, batch: Batch, params: RuleParams) -> list[Alert]:
        st = ctx.state
        stopped = batch.outside & (batch.speed <= params.stop_speed_kmh)
        starts = stopped & ~np.concatenate(([st.stop_start_ts is not None], stopped[:-1]))
        idx = np.maximum.accumulate(np.where(starts, np.arange(len(batch)), -1))
        carried = np.nan if st.stop_start_ts is None else st.stop_start_ts
        start_ts = np.where(idx >= 0, batch.ts[np.maximum(idx, 0)], carried)
        exceeded = stopped & (batch.ts - start_ts >= params.long_stop_min * 60.0)
        alerts = [
            Alert(
                ctx.trip,
                self.kind,
                float(batch.ts[i]),
                f"stopped {(batch.ts[i] - start_ts[i]) / 60:.0f} min outside any zone since "
                f"{_when(start_ts[i])} at lat {batch.lat[i]:.5f}, lon {batch.lon[i]:.5f}",
                self.severity,
            )
            for i in rising(exceeded, st.open.get(self.kind, False))
        ]
        st.open[self.kind] = bool(exceeded[-1])
        st.stop_start_ts = float(start_ts[-1]) if stopped[-1] else None
        return alerts

    def tick(self, ctx: TripContext, now: float, params: RuleParams) -> list[Alert]:
        return []


class SignalLost:
    """No position for longer than `signal_lost_min`, seen when fixes resume or on a tick."""

    kind: ClassVar[str] = "signal_lost"
    severity: ClassVar[str] = WARNING

    def evaluate(self, ctx: TripContext, batch: Batch, params: RuleParams) -> list[Alert]:
        st = ctx.state
        limit = params.signal_lost_min * 60.0
        gaps = np.flatnonzero(batch.step_dt > limit)
        alerts = []
        for i in gaps:
            before = float(batch.ts[i - 1]) if i > 0 else float(batch.prev_ts)
            if st.arrived_ts is not None and before >= st.arrived_ts:
                continue  # silence after arrival is not a transport event
            if i == 0 and st.signal_alerted_after == before:
                continue  # tick() already raised this gap
            alerts.append(
                Alert(
                    ctx.trip,
                    self.kind,
                    float(batch.ts[i]),
                    f"no position for {batch.step_dt[i] / 60:.0f} min (from {_when(before)} "
                    f"to {_when(batch.ts[i])})",
                    self.severity,
                )
            )
        return alerts

    def tick(self, ctx: TripContext, now: float, params: RuleParams) -> list[Alert]:
        st = ctx.state
        if st.last_ts is None or st.arrived_ts is not None or st.signal_alerted_after == st.last_ts:
            return []
        if now - st.last_ts <= params.signal_lost_min * 60.0:
            return []
        st.signal_alerted_after = st.last_ts
        return [
            Alert(
                ctx.trip,
                self.kind,
                float(now),
                f"no position since {_when(st.last_ts)} ({(now - st.last_ts) / 60:.0f} min)",
                self.severity,
            )
        ]


class DeadlinePassed:
    """The deadline passed before the trip arrived (also raised if it arrives late)."""

    kind: ClassVar[str] = "deadline_passed"
    severity: ClassVar[str] = WARNING

    def _alert(self, ctx: TripContext, ts: float) -> list[Alert]:
        ctx.state.deadline_alerted = True
        assert ctx.deadline is not None
        late = (ts - ctx.deadline) / 60
        return [
            Alert(
                ctx.trip,
                self.kind,
                ts,
                f"deadline {_when(ctx.deadline)} passed ({late:.0f} min late), not arrived at {ctx.destination}",
                self.severity,
            )
        ]

    def _due(self, ctx: TripContext) -> float | None:
        """The deadline still to watch: None without one, once alerted, or arrived in time."""
        st, deadline = ctx.state, ctx.deadline
        if deadline is None or st.deadline_alerted:
            return None
        if st.arrived_ts is not None and st.arrived_ts <= deadline:
            return None
        return deadline

    def evaluate(self, ctx: TripContext, batch: Batch, params: RuleParams) -> list[Alert]:
        deadline = self._due(ctx)
        if deadline is None:
            return []
        late = np.flatnonzero(batch.ts > deadline)
        return self._alert(ctx, float(batch.ts[late[0]])) if late.size else []

    def tick(self, ctx: TripContext, now: float, params: RuleParams) -> list[Alert]:
        deadline = self._due(ctx)
        if deadline is not None and ctx.state.arrived_ts is None and now > deadline:
            return self._alert(ctx, float(now))
        return []


# Arrived runs first: signal_lost and deadline_passed read the arrival it records.
DEFAULT_RULES: tuple[Rule, ...] = (
    Arrived(),
    LeftCorridor(),
    LongStop(),
    SealOpenOutsideZone(),
    SignalLost(),
    GpsJump(),
    DeadlinePassed(),
)


class RulePipeline:
    """Runs the rules over batches of one trip at a time, carrying state in the TripContext."""

    def __init__(
        self,
        geo: GeoIndex | None = None,
        params: RuleParams | None = None,
        rules: Sequence[Rule] = DEFAULT_RULES,
    ) -> None:
        self.geo = geo if geo is not None else default_index()
        self.params = params if params is not None else RuleParams()
        self.rules = tuple(rules)

    def _check_context(self, ctx: TripContext) -> None:
        self.geo.corridor(ctx.corridor_id)
        for role, zone in (("origin", ctx.origin), ("destination", ctx.destination)):
            if zone not in self.geo.zones:
                raise ValueError(
                    f"trip {ctx.trip}: unknown {role} zone {zone!r}; known: {', '.join(sorted(self.geo.zones))}"
                )

    def evaluate(
        self,
        ctx: TripContext,
        ts: ArrayLike,
        lat: ArrayLike,
        lon: ArrayLike,
        speed: ArrayLike,
        seal: ArrayLike,
    ) -> list[Alert]:
        """Evaluate one batch (time-ordered points of `ctx.trip`); return its new alerts.

        Raises ValueError for NaN / out-of-range coordinates, non-finite or decreasing
        timestamps (also against the previous batch), negative or NaN speeds and unknown
        seal codes; the trip state is left untouched in that case.
        """
        self._check_context(ctx)
        t = np.asarray(ts, dtype=np.float64)
        lon_a, lat_a = check_coordinates(lon, lat)
        v = np.asarray(speed, dtype=np.float64)
        s = np.asarray(seal)
        if not (t.shape == lon_a.shape == v.shape == s.shape):
            raise ValueError(
                f"trip {ctx.trip}: ts, lat, lon, speed and seal must have one length, got "
                f"{t.shape}, {lat_a.shape}, {lon_a.shape}, {v.shape}, {s.shape}"
            )
        if t.size == 0:
            return []
        if not np.isfinite(t).all():
            raise ValueError(f"trip {ctx.trip}: timestamps must be finite Unix seconds")
        last = ctx.state.last_ts
        if (np.diff(t) < 0).any() or (last is not None and t[0] < last):
            raise ValueError(
                f"trip {ctx.trip}: timestamps go back in time (batch starts {t[0]}, previous point "
                f"{last}); sort each trip's points and evaluate late ones separately"
            )
        if not (np.isfinite(v).all() and (v >= 0).all()):
            raise ValueError(f"trip {ctx.trip}: speed must be finite and >= 0 km/h")
        if not np.isin(s, [int(c) for c in SealState]).all():
            raise ValueError(
                f"trip {ctx.trip}: seal codes must be {', '.join(f'{c.value}={c.name}' for c in SealState)}"
            )

        batch = Batch(self.geo, ctx.corridor_id, t, lon_a, lat_a, v, s.astype(np.int64), ctx.state)
        alerts = self._each_rule(
            ctx,
            float(t[0]),
            f"{t.size} point(s) from {_when(t[0])} to {_when(t[-1])}",
            lambda rule: rule.evaluate(ctx, batch, self.params),
        )
        st = ctx.state
        st.last_ts, st.last_x, st.last_y = float(t[-1]), float(batch.x[-1]), float(batch.y[-1])
        alerts.sort(key=lambda a: a.ts)
        return alerts

    def tick(self, ctx: TripContext, now: float) -> list[Alert]:
        """Alerts due from the clock alone: signal lost, deadline passed with no new points."""
        return self._each_rule(
            ctx,
            float(now),
            f"the clock at {_when(now)}",
            lambda rule: rule.tick(ctx, float(now), self.params),
        )

    def _each_rule(
        self, ctx: TripContext, ts: float, what: str, run: Callable[[Rule], list[Alert]]
    ) -> list[Alert]:
        """`run` for every rule, each isolated from the others.

        A rule that raises is logged with its traceback, its alerts for `what` are lost (its
        state is as it left it), and one `rule_failed` alert at `ts` names every rule that
        failed, so an officer knows the trip was not fully checked; the other rules' alerts
        are returned as usual.
        """
        alerts: list[Alert] = []
        failed: list[str] = []
        for rule in self.rules:
            try:
                alerts.extend(run(rule))
            except Exception as exc:
                log.exception("trip %s: rule %s failed on %s", ctx.trip, rule.kind, what)
                failed.append(f"{rule.kind} ({type(exc).__name__}: {exc})")
        if failed:
            detail = f"not checked by {'; '.join(failed)} on {what}; see the node log"
            alerts.append(Alert(ctx.trip, RULE_FAILED, ts, detail, WARNING))
        return alerts
