"""On-board units: the signed message they publish, and the node's registry of their keys.

A device message is one JSON object

    {"device", "trip", "seq", "ts", "lat", "lon", "speed_kmh",
     "seal": {"id", "state": "CLOSED" | "OPEN" | "TAMPERED"}, "sig"}

published with QoS 1 on `smartcustoms/<member>/trips/<trip>/events`.  `sig` is the hex
Ed25519 signature over the canonical JSON of the message without `sig` (sorted keys, no
spaces, no NaN), so any re-encoding by a relay keeps it valid while any change of a value
breaks it.  The SHA-256 of the exact payload bytes is what ingestion stores and anchors.

`decode_and_verify` checks cheap things first (size, JSON, shape, ranges) so garbage costs no
signature verification, then the key, the signature and the clock: not ahead of the node's
clock by more than the skew, not older than the `[dates]` window for device fixes (a fix
dated 1970 would set the trip's clock back).  Whatever the payload, the answer is a
`DeviceMessage` or a `MessageRejected`: a number too large for a float, or JSON nested past
the recursion limit, is refused like any other bad value (ingestion relies on it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from offchain.dates import DateOutOfRange, DateWindow
from offchain.db import Database
from offchain.errors import OffchainError
from offchain.settings import DateSettings

MAX_PAYLOAD_BYTES = 2048
DEFAULT_CLOCK_SKEW_S = 30.0
SEAL_STATES = ("CLOSED", "OPEN", "TAMPERED")
_FIELDS = frozenset({"device", "trip", "seq", "ts", "lat", "lon", "speed_kmh", "seal", "sig"})
_SEAL_FIELDS = frozenset({"id", "state"})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_SIG = re.compile(r"^[0-9a-f]{128}$")
_TOPIC = re.compile(r"^smartcustoms/([^/+#]+)/trips/([^/+#]+)/events$")


class MessageRejected(OffchainError):
    """A device message refused by verification.

    Codes: malformed, bad_signature, unknown_device, nan_or_out_of_range, future_timestamp,
    timestamp_too_old, bad_seal_state (and, from ingestion, wrong_trip, wrong_topic,
    seq_conflict, undecodable, store_failed).
    """

    code: str = "message_rejected"


@dataclass(frozen=True)
class DeviceMessage:
    """A verified device message; `payload_hash` is the SHA-256 of the received bytes."""

    device: str
    trip: str
    seq: int
    ts: float
    lat: float
    lon: float
    speed_kmh: float
    seal_id: str
    seal_state: str
    payload_hash: bytes


def topic_for(member: str, trip: str) -> str:
    return f"smartcustoms/{member}/trips/{trip}/events"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(member, trip) of an events topic, or None if it is not one."""
    m = _TOPIC.fullmatch(topic)
    return (m.group(1), m.group(2)) if m else None


def canonical_bytes(message: Mapping[str, Any]) -> bytes:
    """The signed bytes: canonical JSON of the message without `sig`.

    Raises ValueError for NaN or infinity (they have no JSON form).
    """
    body = {k: v for k, v in message.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def encode(message: Mapping[str, Any], signing_key: SigningKey) -> bytes:
    """Sign `message` (without `sig`) and return the JSON payload a device publishes."""
    sig = signing_key.sign(canonical_bytes(message)).signature.hex()
    return json.dumps({**message, "sig": sig}, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> Any:
    raise MessageRejected("nan_or_out_of_range", f"{name} is not a finite number")


def _number(obj: Mapping[str, Any], key: str) -> float:
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise MessageRejected("malformed", f"{key} must be a number, got {type(v).__name__}")
    try:
        f = float(v)  # an integer too large for a float raises OverflowError
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise MessageRejected("nan_or_out_of_range", f"{key} is not a finite number")
    return f


def decode_and_verify(
    payload: bytes,
    device_keys: Callable[[str], VerifyKey | None],
    *,
    now: float | None = None,
    clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
    window: DateWindow | None = None,
) -> DeviceMessage:
    """Parse and verify one device payload; raises MessageRejected with the first problem.

    `window` bounds the age of `ts` by its UTC day (default: `[dates]` device fixes).
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MessageRejected("malformed", f"payload of {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        obj = json.loads(payload, parse_constant=_reject_constant)
    except MessageRejected:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageRejected("malformed", f"not JSON: {exc}") from None
    except RecursionError:
        raise MessageRejected("malformed", "JSON nested too deep") from None
    if not isinstance(obj, dict):
        raise MessageRejected("malformed", "payload must be a JSON object")
    keys = set(obj)
    if keys != _FIELDS:
        missing, extra = sorted(_FIELDS - keys), sorted(keys - _FIELDS)
        raise MessageRejected("malformed", f"missing fields {missing}, extra fields {extra}")
    for name in ("device", "trip"):
        if not isinstance(obj[name], str) or not _ID.fullmatch(obj[name]):
            raise MessageRejected("malformed", f"{name} must be an id of 1-64 [A-Za-z0-9_.:-]")
    seq = obj["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        raise MessageRejected("malformed", "seq must be a non-negative integer < 2^63")
    ts, lat, lon, speed = (_number(obj, k) for k in ("ts", "lat", "lon", "speed_kmh"))
    seal = obj["seal"]
    if not isinstance(seal, dict) or set(seal) != _SEAL_FIELDS:
        raise MessageRejected("malformed", "seal must be an object with exactly id and state")
    if not isinstance(seal["id"], str) or not _ID.fullmatch(seal["id"]):
        raise MessageRejected("malformed", "seal.id must be an id of 1-64 [A-Za-z0-9_.:-]")
    if seal["state"] not in SEAL_STATES:
        raise MessageRejected(
            "bad_seal_state", f"seal.state {seal['state']!r} is not one of {SEAL_STATES}"
        )
    if not isinstance(obj["sig"], str) or not _SIG.fullmatch(obj["sig"]):
        raise MessageRejected("malformed", "sig must be 128 lowercase hex digits")
    if abs(lat) > 90 or abs(lon) > 180 or speed < 0 or ts < 0:
        raise MessageRejected(
            "nan_or_out_of_range", f"lat {lat}, lon {lon}, speed {speed}, ts {ts} out of range"
        )
    key = device_keys(obj["device"])
    if key is None:
        raise MessageRejected("unknown_device", f"device {obj['device']!r} is not registered")
    try:
        key.verify(canonical_bytes(obj), bytes.fromhex(obj["sig"]))
    except BadSignatureError:
        raise MessageRejected(
            "bad_signature", f"signature does not match device {obj['device']!r}"
        ) from None
    now = time.time() if now is None else now
    if ts > now + clock_skew_s:
        raise MessageRejected(
            "future_timestamp", f"ts {ts} is {ts - now:.0f} s ahead of this node's clock"
        )
    window = window or DateSettings().device_fixes
    try:
        window.check(_utc_day(ts), f"ts {ts:.0f}", today=_utc_day(now))
    except DateOutOfRange as exc:
        raise MessageRejected("timestamp_too_old", exc.detail) from None
    return DeviceMessage(
        device=obj["device"],
        trip=obj["trip"],
        seq=seq,
        ts=ts,
        lat=lat,
        lon=lon,
        speed_kmh=speed,
        seal_id=seal["id"],
        seal_state=seal["state"],
        payload_hash=hashlib.sha256(payload).digest(),
    )


def _utc_day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


_MIGRATIONS = [
    """
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,
        verify_key BLOB NOT NULL,
        registered_at REAL NOT NULL
    );
    CREATE TABLE device_trips (
        device TEXT NOT NULL REFERENCES devices(device),
        trip TEXT NOT NULL,
        bound_at REAL NOT NULL,
        PRIMARY KEY (device, trip)
    );
    """
]


class DeviceRegistry:
    """The node's devices (Ed25519 verify keys) and which trips each may report for.

    Keys and bindings are cached in memory (ingestion asks for them per message); the cache
    is written through, so a registration is effective immediately in this process.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate("devices", _MIGRATIONS)
        self._keys: dict[str, VerifyKey] = {
            r["device"]: VerifyKey(r["verify_key"])
            for r in db.query("SELECT device, verify_key FROM devices")
        }
        self._trips: set[tuple[str, str]] = {
            (r["device"], r["trip"]) for r in db.query("SELECT device, trip FROM device_trips")
        }

    def register_device(self, device_id: str, verify_key_bytes: bytes) -> None:
        """Register (or re-key) a device; raises ValueError for a bad id or key."""
        if not _ID.fullmatch(device_id):
            raise ValueError(f"device id {device_id!r} must be 1-64 [A-Za-z0-9_.:-]")
        key = VerifyKey(bytes(verify_key_bytes))
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO devices (device, verify_key, registered_at) VALUES (?, ?, ?)"
                " ON CONFLICT(device) DO UPDATE SET verify_key = excluded.verify_key",
                (device_id, bytes(key), time.time()),
            )
        self._keys[device_id] = key

    def bind(self, device_id: str, trip_id: str) -> None:
        """Allow `device_id` to report for `trip_id`; raises KeyError for an unknown device."""
        if device_id not in self._keys:
            raise KeyError(f"device {device_id!r} is not registered; register it first")
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO device_trips (device, trip, bound_at) VALUES (?, ?, ?)",
                (device_id, trip_id, time.time()),
            )
        self._trips.add((device_id, trip_id))

    def verify_key(self, device_id: str) -> VerifyKey | None:
        return self._keys.get(device_id)

    def is_bound(self, device_id: str, trip_id: str) -> bool:
        return (device_id, trip_id) in self._trips
