"""Zones, corridors and the metric projection used by the transport rules.

Free-trade zones and ports are polygons, approved corridors are centre lines with a buffer
width in metres; both come from GeoJSON a user can replace (`data/zones/`, see its README).
Everything is projected once to TWD97 / TM2 (EPSG:3826, metres) so distances are metres, not
degrees, and every query is vectorised with shapely 2: a batch of points costs a few array
calls, not a Python loop.

What can go wrong: `GeoDataInvalid` names the file and the feature when the GeoJSON is bad
(unreadable, wrong geometry type, non-finite or out-of-range coordinates, a corridor that
names an unknown zone or does not start and end at its zones); `ValueError` when query
coordinates are NaN or out of range (the rules must never compute silently on them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from offchain.errors import OffchainError
from offchain.settings import REPO_ROOT

ZONES_DIR = REPO_ROOT / "data" / "zones"
DEFAULT_ZONES = ZONES_DIR / "zones.geojson"
DEFAULT_CORRIDORS = ZONES_DIR / "corridors.geojson"
ZONE_KINDS = frozenset({"port", "ftz", "airport"})
NO_ZONE = ""


class GeoDataInvalid(OffchainError):
    """A zones or corridors GeoJSON file cannot be used; `path` and `feature` say where."""

    code = "geo_data_invalid"

    def __init__(self, path: Path | str, feature: str | None, problem: str) -> None:
        where = f"{path}" + (f", feature {feature}" if feature else "")
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.feature = feature
        self.detail = f"{where}: {problem}"


# --------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class TransverseMercator:
    """Ellipsoidal transverse Mercator (Snyder 1987, eqs. 8-9 and 8-10).

    The series is accurate to millimetres within a few degrees of the central meridian, which
    covers Taiwan's main island in TM2 (121 E, +/- 1.2 degrees).
    """

    a: float
    inv_f: float
    lon0_deg: float
    lat0_deg: float
    k0: float
    false_easting: float
    false_northing: float

    def _meridian_arc(self, phi: NDArray[np.float64] | float) -> Any:
        e2 = self._e2
        e4, e6 = e2 * e2, e2 * e2 * e2
        return self.a * (
            (1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
            - (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * np.sin(2 * phi)
            + (15 * e4 / 256 + 45 * e6 / 1024) * np.sin(4 * phi)
            - (35 * e6 / 3072) * np.sin(6 * phi)
        )

    @property
    def _e2(self) -> float:
        f = 1.0 / self.inv_f
        return f * (2 - f)

    def forward(
        self, lons: ArrayLike, lats: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Degrees (lon, lat) to metres (easting, northing); arrays in, arrays out."""
        lam = np.radians(np.asarray(lons, dtype=np.float64))
        phi = np.radians(np.asarray(lats, dtype=np.float64))
        e2 = self._e2
        ep2 = e2 / (1 - e2)
        sin_phi, cos_phi = np.sin(phi), np.cos(phi)
        n = self.a / np.sqrt(1 - e2 * sin_phi * sin_phi)
        t = np.tan(phi) ** 2
        c = ep2 * cos_phi * cos_phi
        a = (lam - math.radians(self.lon0_deg)) * cos_phi
        a2 = a * a
        m = self._meridian_arc(phi)
        m0 = self._meridian_arc(math.radians(self.lat0_deg))
        x = self.false_easting + self.k0 * n * (
            a
            + (1 - t + c) * a2 * a / 6
            + (5 - 18 * t + t * t + 72 * c - 58 * ep2) * a2 * a2 * a / 120
        )
        y = self.false_northing + self.k0 * (
            m
            - m0
            + n
            * np.tan(phi)
            * (
                a2 / 2
                + (5 - t + 9 * c + 4 * c * c) * a2 * a2 / 24
                + (61 - 58 * t + t * t + 600 * c - 330 * ep2) * a2 * a2 * a2 / 720
            )
        )
        return x, y


#: TWD97 / TM2 zone 121 (EPSG:3826): GRS80, central meridian 121 E, k0 0.9999, FE 250 km.
TWD97_TM2 = TransverseMercator(
    a=6378137.0,
    inv_f=298.257222101,
    lon0_deg=121.0,
    lat0_deg=0.0,
    k0=0.9999,
    false_easting=250000.0,
    false_northing=0.0,
)


def check_coordinates(lons: ArrayLike, lats: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """Return (lons, lats) as float arrays, or raise ValueError naming the first bad point.

    Why: NaN compares false with everything, so a NaN point would quietly be "inside no zone,
    on no corridor" and either hide or fake an alert.
    """
    lon = np.asarray(lons, dtype=np.float64)
    lat = np.asarray(lats, dtype=np.float64)
    if lon.shape != lat.shape or lon.ndim != 1:
        raise ValueError(
            f"lons and lats must be 1-D arrays of one length, got {lon.shape} and {lat.shape}"
        )
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"point {i} has invalid coordinates (lon={lon[i]}, lat={lat[i]}): longitude must be "
            f"finite in [-180, 180] and latitude finite in [-90, 90]; {int(bad.sum())} bad point(s)"
        )
    return lon, lat


def project(lons: ArrayLike, lats: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validated WGS84 degrees to TWD97 / TM2 metres."""
    lon, lat = check_coordinates(lons, lats)
    return TWD97_TM2.forward(lon, lat)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Zone:
    """A free-trade zone, port or airport; `area` is the polygon in TM2 metres."""

    id: str
    name: str
    kind: str
    area: shapely.Polygon


@dataclass(frozen=True)
class Corridor:
    """An approved route between two zones; `line` is the centre line in TM2 metres."""

    id: str
    from_zone: str
    to_zone: str
    buffer_m: float
    line: shapely.LineString
    lonlat: shapely.LineString  # the line as given, WGS84 degrees

    def points_along(self, fractions: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(lons, lats) at fractions 0..1 of the way from `from_zone` to `to_zone`.

        For simulators and tests: interpolates in degrees, which stays within metres of the
        projected centre line for the short segments of a road corridor.
        """
        pts = shapely.line_interpolate_point(
            self.lonlat, np.asarray(fractions, dtype=np.float64), normalized=True
        )
        xy = shapely.get_coordinates(pts)
        return xy[:, 0], xy[:, 1]


def _read_collection(path: Path) -> list[Mapping[str, Any]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeoDataInvalid(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeoDataInvalid(path, None, f"not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GeoDataInvalid(
            path, None, 'expected a GeoJSON object with "type": "FeatureCollection"'
        )
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise GeoDataInvalid(path, None, '"features" must be a non-empty list')
    return features


def _feature_parts(
    path: Path, index: int, feature: Any, geom_type: str, required: tuple[str, ...]
) -> tuple[str, Mapping[str, Any], shapely.Geometry, shapely.Geometry]:
    """Check one feature and return (id, properties, geometry as given, geometry in TM2)."""
    label = f"#{index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise GeoDataInvalid(path, label, 'not a GeoJSON Feature (missing "type": "Feature")')
    props = feature.get("properties") or {}
    fid = props.get("id")
    if not isinstance(fid, str) or not fid:
        raise GeoDataInvalid(path, label, "properties.id must be a non-empty string")
    label = f"{fid!r} (#{index})"
    missing = [k for k in required if k not in props]
    if missing:
        raise GeoDataInvalid(path, label, f"missing properties: {', '.join(missing)}")
    raw = feature.get("geometry")
    if not isinstance(raw, dict) or raw.get("type") != geom_type:
        got = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise GeoDataInvalid(path, label, f"geometry must be a {geom_type}, got {got}")
    positions: list[Any] = []
    _collect_positions(raw.get("coordinates"), positions)
    try:
        coords = np.array(positions, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        coords = np.full((1, 2), np.nan)
    if coords.size == 0:
        raise GeoDataInvalid(path, label, "empty geometry")
    lon, lat = coords[:, 0], coords[:, 1]
    if not (np.isfinite(coords).all() and (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all()):
        raise GeoDataInvalid(
            path, label, "coordinates must be finite [lon, lat] in degrees (WGS84), lon first"
        )
    try:
        geom = shapely.from_geojson(json.dumps(raw))
    except Exception as exc:  # shapely raises GEOSException or ValueError, both worth naming
        raise GeoDataInvalid(path, label, f"unreadable geometry ({exc})") from None
    coords = shapely.get_coordinates(geom)
    lon, lat = coords[:, 0], coords[:, 1]
    x, y = TWD97_TM2.forward(lon, lat)
    projected = shapely.set_coordinates(geom, np.column_stack([x, y]))
    if not projected.is_valid:
        reason = shapely.is_valid_reason(projected)
        raise GeoDataInvalid(path, label, f"invalid {geom_type}: {reason}")
    return fid, props, geom, projected


def _collect_positions(node: Any, out: list[Any]) -> None:
    """Flatten GeoJSON coordinates to [lon, lat] pairs; anything else becomes a NaN pair."""
    if isinstance(node, list) and node and not isinstance(node[0], list):
        ok = len(node) in (2, 3) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in node
        )
        out.append(node[:2] if ok else [math.nan, math.nan])
    elif isinstance(node, list):
        for child in node:
            _collect_positions(child, out)
    else:
        out.append([math.nan, math.nan])


def _check_unique(path: Path, ids: list[str]) -> None:
    seen: set[str] = set()
    for fid in ids:
        if fid in seen:
            raise GeoDataInvalid(path, repr(fid), "duplicate id")
        seen.add(fid)


class GeoIndex:
    """Zones and corridors loaded, validated and indexed for vectorised queries.

    Zones sit in an STRtree (which prepares the polygons it tests), corridors are prepared
    lines; both in TM2 metres.  Build one with `GeoIndex.load(...)` or `default_index()`.
    """

    def __init__(self, zones: list[Zone], corridors: list[Corridor]) -> None:
        self.zones: dict[str, Zone] = {z.id: z for z in zones}
        self.corridors: dict[str, Corridor] = {c.id: c for c in corridors}
        self._zone_ids = np.array([z.id for z in zones], dtype=object)
        self._zone_geoms = np.array([z.area for z in zones], dtype=object)
        self._tree = shapely.STRtree(self._zone_geoms)
        for geom in self._zone_geoms:
            shapely.prepare(geom)
        for c in corridors:
            shapely.prepare(c.line)

    @classmethod
    def load(
        cls, zones_path: Path | str = DEFAULT_ZONES, corridors_path: Path | str = DEFAULT_CORRIDORS
    ) -> GeoIndex:
        """Read and validate both files; raise GeoDataInvalid naming the file and feature."""
        zones_path, corridors_path = Path(zones_path), Path(corridors_path)
        zones = []
        for i, feat in enumerate(_read_collection(zones_path)):
            fid, props, _, geom = _feature_parts(zones_path, i, feat, "Polygon", ("name", "kind"))
            if props["kind"] not in ZONE_KINDS:
                raise GeoDataInvalid(
                    zones_path,
                    repr(fid),
                    f"kind {props['kind']!r} is not one of {sorted(ZONE_KINDS)}",
                )
            zones.append(Zone(fid, str(props["name"]), props["kind"], geom))
        _check_unique(zones_path, [z.id for z in zones])
        by_id = {z.id: z for z in zones}

        corridors = []
        for i, feat in enumerate(_read_collection(corridors_path)):
            fid, props, lonlat, geom = _feature_parts(
                corridors_path, i, feat, "LineString", ("from", "to", "buffer_m")
            )
            label = repr(fid)
            for end in ("from", "to"):
                if props[end] not in by_id:
                    raise GeoDataInvalid(
                        corridors_path,
                        label,
                        f"{end!r} names zone {props[end]!r}, which is not in {zones_path.name} "
                        f"(known: {', '.join(sorted(by_id))})",
                    )
            buffer_m = props["buffer_m"]
            if (
                isinstance(buffer_m, bool)
                or not isinstance(buffer_m, int | float)
                or not (0 < buffer_m < 100_000)
            ):
                raise GeoDataInvalid(
                    corridors_path,
                    label,
                    f"buffer_m must be a number of metres in (0, 100000), got {buffer_m!r}",
                )
            start, end_pt = shapely.points(shapely.get_coordinates(geom)[[0, -1]])
            for end, pt in (("from", start), ("to", end_pt)):
                gap = shapely.distance(by_id[props[end]].area, pt)
                if gap > buffer_m:
                    raise GeoDataInvalid(
                        corridors_path,
                        label,
                        f"the line's {'first' if end == 'from' else 'last'} vertex is {gap:.0f} m "
                        f"from zone {props[end]!r}; a corridor must start and end at its zones",
                    )
            corridors.append(
                Corridor(fid, props["from"], props["to"], float(buffer_m), geom, lonlat)
            )
        _check_unique(corridors_path, [c.id for c in corridors])
        return cls(zones, corridors)

    # ----------------------------------------------------------------------- queries

    def zone_of_xy(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.object_]:
        """Zone id per projected point, or "" outside every zone (first zone wins on overlap)."""
        out = np.full(x.shape, NO_ZONE, dtype=object)
        if x.size == 0:
            return out
        pts = shapely.points(x, y)
        point_idx, zone_idx = self._tree.query(pts, predicate="intersects")
        # Reverse so that, on overlapping zones, the lowest zone index is written last.
        out[point_idx[::-1]] = self._zone_ids[zone_idx[::-1]]
        return out

    def zone_of(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.object_]:
        """Zone id for each (lon, lat) in degrees, or "" outside every zone."""
        return self.zone_of_xy(*project(lons, lats))

    def corridor(self, corridor_id: str) -> Corridor:
        """The corridor by id; KeyError listing the known ids otherwise."""
        try:
            return self.corridors[corridor_id]
        except KeyError:
            raise KeyError(
                f"unknown corridor {corridor_id!r}; known: {', '.join(sorted(self.corridors))}"
            ) from None

    def corridor_distance_xy(
        self, corridor_id: str, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Metres from each projected point to the corridor's centre line."""
        line = self.corridor(corridor_id).line
        if x.size == 0:
            return np.empty(0)
        return shapely.distance(line, shapely.points(x, y))

    def corridor_distance_m(
        self, corridor_id: str, lons: ArrayLike, lats: ArrayLike
    ) -> NDArray[np.float64]:
        """Metres from each (lon, lat) to the corridor's centre line (compare with buffer_m)."""
        return self.corridor_distance_xy(corridor_id, *project(lons, lats))


@lru_cache(maxsize=1)
def default_index() -> GeoIndex:
    """The shipped example zones and corridors under data/zones/, loaded once."""
    return GeoIndex.load(DEFAULT_ZONES, DEFAULT_CORRIDORS)


def zone_of(lons: ArrayLike, lats: ArrayLike) -> NDArray[np.object_]:
    """Zone id per point against the default data, or "" outside every zone."""
    return default_index().zone_of(lons, lats)


def corridor_distance_m(corridor_id: str, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.float64]:
    """Metres from each point to a corridor of the default data."""
    return default_index().corridor_distance_m(corridor_id, lons, lats)
