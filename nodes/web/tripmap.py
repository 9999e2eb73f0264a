"""A trip drawn as inline SVG from the node's own GeoJSON: zones, corridor, track, alerts.

No map tiles (the machines have no internet, and a customs console should not leak where
its trucks are to a tile server): the zones and corridors files the rules use
(`transport.zones_file`, `transport.corridors_file`) are the map.  Coordinates are projected
with a local equirectangular projection around the drawing's centre — metres within a
fraction of a percent over the few tens of kilometres of a corridor, which is all a picture
needs (the rules themselves measure in TWD97 / TM2).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

WIDTH = 1000.0
M_PER_DEG = 111_320.0
PAD = 0.08


@lru_cache(maxsize=8)
def _features(path: str, mtime: float) -> tuple[dict[str, Any], ...]:
    with open(path, encoding="utf-8") as fh:
        return tuple(json.load(fh).get("features", ()))


def _load(path: Path | str) -> tuple[dict[str, Any], ...]:
    p = Path(path)
    return _features(str(p), p.stat().st_mtime)


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    """Outer rings of a Polygon or MultiPolygon."""
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry.get("type") == "MultiPolygon":
        return [poly[0] for poly in geometry["coordinates"]]
    return []


class _Projection:
    def __init__(self, lons: list[float], lats: list[float]) -> None:
        self.k = math.cos(math.radians((min(lats) + max(lats)) / 2))
        xs = [lon * self.k for lon in lons]
        w, h = max(xs) - min(xs), max(lats) - min(lats)
        w, h = max(w, 1e-4), max(h, 1e-4)
        self.x0, self.y0 = min(xs) - w * PAD, max(lats) + h * PAD
        self.scale = WIDTH / (w * (1 + 2 * PAD))
        self.height = h * (1 + 2 * PAD) * self.scale

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            round((lon * self.k - self.x0) * self.scale, 1),
            round((self.y0 - lat) * self.scale, 1),
        )

    def points(self, coords: list[list[float]]) -> str:
        return " ".join("{},{}".format(*self.xy(c[0], c[1])) for c in coords)

    def metres(self, m: float) -> float:
        return m / M_PER_DEG * self.scale


def _scale_bar(proj: _Projection) -> dict[str, Any]:
    target = WIDTH / 5 / proj.metres(1)  # about a fifth of the width, in metres
    nice = max(
        v
        for v in (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
        if v <= max(target, 100)
    )
    label = f"{nice // 1000} km" if nice >= 1000 else f"{nice} m"
    return {"length": round(proj.metres(nice), 1), "label": label}


def trip_map(
    zones_file: Path | str,
    corridors_file: Path | str,
    trip: dict[str, Any],
    events: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> dict[str, Any]:
    """What the template needs to draw the trip: a viewBox and shapes in its coordinates.

    `trip` is the trip status (origin, destination, corridor), `events` its stored fixes in
    time order, `alerts` its alerts.  Unknown zones or corridor are simply not drawn.
    """
    zones = _load(zones_file)
    corridors = _load(corridors_file)
    corridor = next(
        (c for c in corridors if c["properties"].get("id") == trip.get("corridor")), None
    )
    ends = {trip.get("origin"), trip.get("destination")}
    focus: list[list[float]] = []
    for z in zones:
        if z["properties"].get("id") in ends:
            for ring in _rings(z["geometry"]):
                focus += ring
    if corridor is not None:
        focus += corridor["geometry"]["coordinates"]
    focus += [[e["lon"], e["lat"]] for e in events]
    if not focus:
        return {"empty": True}
    proj = _Projection([c[0] for c in focus], [c[1] for c in focus])

    drawn_zones = []
    for z in zones:
        props = z["properties"]
        for ring in _rings(z["geometry"]):
            xs = [proj.xy(c[0], c[1]) for c in ring]
            cx = sum(p[0] for p in xs) / len(xs)
            top = min(p[1] for p in xs)
            drawn_zones.append(
                {
                    "id": props.get("id"),
                    "name": props.get("name", props.get("id")),
                    "points": proj.points(ring),
                    "label_x": round(cx, 1),
                    "label_y": round(top - 8, 1),
                    "role": (
                        "origin"
                        if props.get("id") == trip.get("origin")
                        else "destination"
                        if props.get("id") == trip.get("destination")
                        else "other"
                    ),
                }
            )
    out_corridor = None
    if corridor is not None:
        props = corridor["properties"]
        out_corridor = {
            "id": props.get("id"),
            "via": props.get("via", ""),
            "points": proj.points(corridor["geometry"]["coordinates"]),
            "width": round(2 * proj.metres(float(props.get("buffer_m", 500))), 1),
            "buffer_m": props.get("buffer_m"),
        }
    track = [proj.xy(e["lon"], e["lat"]) for e in events]
    flagged = [
        {"x": x, "y": y, "flag": e["flag"], "seq": e["seq"], "seal": e["seal_state"]}
        for (x, y), e in zip(track, events, strict=True)
        if e.get("flag")
    ]
    opened = [
        {"x": x, "y": y, "seq": e["seq"], "seal": e["seal_state"]}
        for (x, y), e in zip(track, events, strict=True)
        if e.get("seal_state") not in (None, "CLOSED")
    ]
    marks = []
    if events:
        times = [e["ts"] for e in events]
        for a in alerts:
            # An alert sits at the fix nearest its time (alerts about silence have no fix).
            i = min(range(len(times)), key=lambda j: abs(times[j] - a["ts"]))
            x, y = track[i]
            marks.append(
                {"x": x, "y": y, "kind": a["kind"], "severity": a["severity"], "id": a["id"]}
            )
    return {
        "empty": False,
        "viewbox": f"0 0 {WIDTH:.0f} {proj.height:.0f}",
        "height": round(proj.height),
        "zones": drawn_zones,
        "corridor": out_corridor,
        "track": " ".join(f"{x},{y}" for x, y in track),
        "start": track[0] if track else None,
        "end": track[-1] if track else None,
        "flagged": flagged,
        "seal_open": opened,
        "alerts": marks,
        "scale": _scale_bar(proj),
    }
