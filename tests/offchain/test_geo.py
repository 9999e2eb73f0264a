"""offchain.geo: the shipped zones and corridors, the TM2 projection, queries and bad GeoJSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from offchain.geo import (
    DEFAULT_CORRIDORS,
    DEFAULT_ZONES,
    TWD97_TM2,
    GeoDataInvalid,
    GeoIndex,
    TransverseMercator,
    corridor_distance_m,
    default_index,
    project,
    zone_of,
)

KEELUNG = (121.7500, 25.1400)  # inside the harbour polygon
KAOHSIUNG = (120.3100, 22.5950)
TAIWAN_STRAIT = (120.0000, 24.0000)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlam / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


# ----------------------------------------------------------------------------- data


def test_shipped_data_loads_with_the_five_zones():
    geo = default_index()
    assert set(geo.zones) == {"TW-KEL", "TW-TPP", "TW-TPE", "TW-TCG", "TW-KHH"}
    assert geo.zones["TW-TPE"].kind == "airport"
    assert {z.kind for z in geo.zones.values()} <= {"port", "ftz", "airport"}
    # Areas in TM2 square metres: a port is between ~0.5 and 50 km^2, not a fraction of a degree.
    for z in geo.zones.values():
        assert 0.5e6 < z.area.area < 50e6, (z.id, z.area.area)
    assert len(geo.corridors) >= 5


def test_every_corridor_joins_two_existing_zones_and_starts_and_ends_in_them():
    geo = default_index()
    for c in geo.corridors.values():
        assert c.from_zone in geo.zones and c.to_zone in geo.zones and c.from_zone != c.to_zone
        lons, lats = c.points_along([0.0, 1.0])
        assert list(geo.zone_of(lons, lats)) == [c.from_zone, c.to_zone], c.id
        assert c.buffer_m == 500


def test_corridors_are_road_length_not_straight_line():
    geo = default_index()
    c = geo.corridors["KEL-KHH"]
    lo, la = c.points_along([0.0, 1.0])
    straight = haversine_m(lo[0], la[0], lo[1], la[1])
    # The drawn Freeway 1 is ~348 km for ~316 km in a straight line.
    assert straight < c.line.length < 1.25 * straight


# ----------------------------------------------------------------------------- projection


def test_transverse_mercator_matches_the_epsg_worked_example():
    # EPSG Guidance Note 7-2, transverse Mercator example (OSGB 1936 / British National Grid).
    osgb = TransverseMercator(
        6377563.396, 299.3249646, -2.0, 49.0, 0.9996012717, 400000.0, -100000.0
    )
    x, y = osgb.forward([0.5], [50.5])
    assert x[0] == pytest.approx(577274.99, abs=0.05)
    assert y[0] == pytest.approx(69740.50, abs=0.05)


def test_tm2_origin_and_central_meridian():
    x, y = TWD97_TM2.forward([121.0, 121.0], [0.0, 24.0])
    assert x[0] == pytest.approx(250000.0) and y[0] == pytest.approx(0.0, abs=1e-6)
    assert x[1] == pytest.approx(250000.0)
    # GRS80 meridian arc to 24 N is 2,655,910.7 m (numerical integral below), times k0.
    phi = np.linspace(0.0, math.radians(24.0), 200_001)
    a, e2 = 6378137.0, (1 / 298.257222101) * (2 - 1 / 298.257222101)
    rho = a * (1 - e2) / (1 - e2 * np.sin(phi) ** 2) ** 1.5
    arc = float(np.sum((rho[1:] + rho[:-1]) / 2 * np.diff(phi)))
    assert y[1] == pytest.approx(0.9999 * arc, abs=0.01)


def test_projected_distances_are_metres():
    (klon, klat), (hlon, hlat) = KEELUNG, KAOHSIUNG
    x, y = project([klon, hlon], [klat, hlat])
    d = math.hypot(x[1] - x[0], y[1] - y[0])
    great_circle = haversine_m(klon, klat, hlon, hlat)
    assert great_circle > 300_000
    assert d == pytest.approx(great_circle, rel=0.01)
    # And at street scale: 1 km east at 24 N, well within 0.5%.
    dlon = 1000 / (111_320 * math.cos(math.radians(24)))
    x, y = project([120.6, 120.6 + dlon], [24.0, 24.0])
    assert math.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(
        haversine_m(120.6, 24.0, 120.6 + dlon, 24.0), rel=0.005
    )


# ----------------------------------------------------------------------------- queries


def test_zone_of_points():
    lons = [KEELUNG[0], TAIWAN_STRAIT[0], KAOHSIUNG[0], 121.233]
    lats = [KEELUNG[1], TAIWAN_STRAIT[1], KAOHSIUNG[1], 25.075]
    assert list(zone_of(lons, lats)) == ["TW-KEL", "", "TW-KHH", "TW-TPE"]
    assert zone_of([], []).shape == (0,)


def test_corridor_distance_in_metres():
    # KEL-KHH runs east-west along lat 25.07 between 121.52 and 121.60 (the Taipei section).
    north_2km = 25.07 + 2000 / 110_800
    d = corridor_distance_m("KEL-KHH", [121.56, 121.56, 121.60], [25.07, north_2km, 25.07])
    assert d[0] < 5 and d[2] < 1
    assert 1950 < d[1] < 2050
    with pytest.raises(KeyError, match="unknown corridor 'NOPE'"):
        corridor_distance_m("NOPE", [121.5], [25.0])


@pytest.mark.parametrize(
    ("lons", "lats"),
    [
        ([121.5, float("nan")], [25.0, 25.0]),
        ([121.5], [95.0]),
        ([181.0], [25.0]),
        ([121.5], [float("inf")]),
    ],
)
def test_bad_query_coordinates_raise_value_error(lons, lats):
    with pytest.raises(ValueError, match="invalid coordinates"):
        zone_of(lons, lats)
    with pytest.raises(ValueError, match="invalid coordinates"):
        corridor_distance_m("KEL-KHH", lons, lats)


# ----------------------------------------------------------------------------- bad GeoJSON


def _load_docs() -> tuple[dict, dict]:
    return json.loads(DEFAULT_ZONES.read_text()), json.loads(DEFAULT_CORRIDORS.read_text())


def _write(tmp_path: Path, zones: dict | str, corridors: dict | str) -> tuple[Path, Path]:
    zp, cp = tmp_path / "zones.geojson", tmp_path / "corridors.geojson"
    zp.write_text(zones if isinstance(zones, str) else json.dumps(zones))
    cp.write_text(corridors if isinstance(corridors, str) else json.dumps(corridors))
    return zp, cp


def test_copy_of_shipped_data_loads_from_another_place(tmp_path):
    zones, corridors = _load_docs()
    geo = GeoIndex.load(*_write(tmp_path, zones, corridors))
    assert set(geo.corridors) == set(default_index().corridors)


def _bowtie(zones):
    zones["features"][0]["geometry"]["coordinates"] = [
        [[121.73, 25.12], [121.77, 25.16], [121.77, 25.12], [121.73, 25.16], [121.73, 25.12]]
    ]


def _nan(zones):
    zones["features"][1]["geometry"]["coordinates"][0][1][0] = float("nan")


def _lat_first(zones):
    ring = zones["features"][2]["geometry"]["coordinates"][0]
    zones["features"][2]["geometry"]["coordinates"][0] = [[lat, lon] for lon, lat in ring]


def _point(zones):
    zones["features"][3]["geometry"] = {"type": "Point", "coordinates": [120.5, 24.3]}


def _kind(zones):
    zones["features"][0]["properties"]["kind"] = "warehouse"


def _dup(zones):
    zones["features"][1]["properties"]["id"] = "TW-KEL"


@pytest.mark.parametrize(
    ("mutate", "feature", "message"),
    [
        (_bowtie, "'TW-KEL'", "invalid Polygon: Self-intersection"),
        (_nan, "'TW-TPP'", "coordinates must be finite"),
        (_lat_first, "'TW-TPE'", "coordinates must be finite"),
        (_point, "'TW-TCG'", "geometry must be a Polygon, got Point"),
        (_kind, "'TW-KEL'", "kind 'warehouse' is not one of"),
        (_dup, "'TW-KEL'", "duplicate id"),
    ],
)
def test_bad_zone_features_are_named(tmp_path, mutate, feature, message):
    zones, corridors = _load_docs()
    mutate(zones)
    zp, cp = _write(tmp_path, zones, corridors)
    with pytest.raises(GeoDataInvalid) as err:
        GeoIndex.load(zp, cp)
    assert str(zp) in str(err.value) and feature in str(err.value) and message in str(err.value)
    assert err.value.code == "geo_data_invalid"


def test_corridor_to_unknown_zone_is_named(tmp_path):
    zones, corridors = _load_docs()
    corridors["features"][0]["properties"]["to"] = "TW-XXX"
    zp, cp = _write(tmp_path, zones, corridors)
    with pytest.raises(
        GeoDataInvalid, match=r"corridors\.geojson, feature 'KEL-TPP'.*'to' names zone 'TW-XXX'"
    ):
        GeoIndex.load(zp, cp)


def test_corridor_that_does_not_reach_its_zone_is_refused(tmp_path):
    zones, corridors = _load_docs()
    corridors["features"][0]["geometry"]["coordinates"][-1] = [121.45, 25.09]  # stops short of Bali
    zp, cp = _write(tmp_path, zones, corridors)
    with pytest.raises(GeoDataInvalid, match=r"'KEL-TPP'.*last vertex is \d+ m from zone 'TW-TPP'"):
        GeoIndex.load(zp, cp)


@pytest.mark.parametrize("buffer_m", [0, -5, "500", None, True])
def test_corridor_buffer_must_be_positive_metres(tmp_path, buffer_m):
    zones, corridors = _load_docs()
    corridors["features"][1]["properties"]["buffer_m"] = buffer_m
    zp, cp = _write(tmp_path, zones, corridors)
    with pytest.raises(GeoDataInvalid, match=r"'TPP-TPE'.*buffer_m must be a number"):
        GeoIndex.load(zp, cp)


def test_unreadable_and_missing_files(tmp_path):
    _, corridors = _load_docs()
    zp, cp = _write(tmp_path, "{not json", corridors)
    with pytest.raises(GeoDataInvalid, match=r"zones\.geojson: not readable JSON"):
        GeoIndex.load(zp, cp)
    zp, cp = _write(tmp_path, {"type": "Feature"}, corridors)
    with pytest.raises(GeoDataInvalid, match="FeatureCollection"):
        GeoIndex.load(zp, cp)
    with pytest.raises(GeoDataInvalid, match=r"missing\.geojson: file not found"):
        GeoIndex.load(tmp_path / "missing.geojson", cp)
