"""Device message format: signing, verification and every rejection code."""

from __future__ import annotations

import json
import sys
import time

import pytest
from nacl.signing import SigningKey

from offchain.devices import (
    MAX_PAYLOAD_BYTES,
    MessageRejected,
    canonical_bytes,
    decode_and_verify,
    encode,
)
from offchain.settings import Settings

KEY = SigningKey(b"\x01" * 32)
OTHER = SigningKey(b"\x02" * 32)
NOW = 1_800_000_000.0


def message(**over):
    base = {
        "device": "obu-1",
        "trip": "T1",
        "seq": 7,
        "ts": NOW - 5,
        "lat": 25.13,
        "lon": 121.74,
        "speed_kmh": 42.5,
        "seal": {"id": "S-1", "state": "CLOSED"},
    }
    base.update(over)
    return base


def keys(name):
    return KEY.verify_key if name == "obu-1" else None


def verify(payload: bytes):
    return decode_and_verify(payload, keys, now=NOW)


def resign(obj) -> bytes:
    """Sign an arbitrary (possibly invalid) object the way a device would."""
    obj = {k: v for k, v in obj.items() if k != "sig"}
    sig = KEY.sign(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).signature
    return json.dumps({**obj, "sig": sig.hex()}).encode()


def code_of(payload: bytes) -> str:
    with pytest.raises(MessageRejected) as err:
        verify(payload)
    return err.value.code


def test_round_trip_and_reencoding_keep_signature_valid():
    payload = encode(message(), KEY)
    msg = verify(payload)
    assert (msg.device, msg.trip, msg.seq, msg.lat, msg.seal_state) == (
        "obu-1",
        "T1",
        7,
        25.13,
        "CLOSED",
    )
    assert len(msg.payload_hash) == 32
    # a relay re-serialising with other key order and spacing does not break the signature
    relayed = json.dumps(json.loads(payload), indent=2, sort_keys=False).encode()
    assert verify(relayed).seq == 7


def test_tampered_value_is_bad_signature():
    obj = json.loads(encode(message(), KEY))
    obj["lat"] = 25.14
    assert code_of(json.dumps(obj).encode()) == "bad_signature"


def test_signature_by_another_key_is_bad_signature():
    assert code_of(encode(message(), OTHER)) == "bad_signature"


def test_unknown_device():
    assert code_of(encode(message(device="obu-9"), KEY)) == "unknown_device"


@pytest.mark.parametrize(
    "raw",
    [b'"lat": NaN', b'"lat": Infinity', b'"lon": -Infinity', b'"lat": 1e999'],
)
def test_nan_and_infinity_are_refused(raw):
    field = raw.split(b'"')[1].decode()
    payload = encode(message(), KEY)
    text = payload.replace(f'"{field}":'.encode(), b"@@", 1)
    head, tail = text.split(b"@@")
    tail = tail.split(b",", 1)[1]
    assert code_of(head + raw + b"," + tail) == "nan_or_out_of_range"


@pytest.mark.parametrize(
    "over", [{"lat": 90.5}, {"lat": -91}, {"lon": 180.01}, {"lon": -200}, {"speed_kmh": -1}]
)
def test_out_of_range_values_are_refused(over):
    assert code_of(resign(message(**over))) == "nan_or_out_of_range"


@pytest.mark.parametrize("field", ["ts", "lat", "lon", "speed_kmh"])
def test_an_integer_too_large_for_a_float_is_out_of_range(field):
    assert code_of(resign(message(**{field: 10**400}))) == "nan_or_out_of_range"


@pytest.mark.parametrize(
    "payload",
    [b"[" * 2000, b'{"device":' + b"[" * 1010 + b"]" * 1010 + b"}"],
    ids=["bare", "in a field"],
)
def test_json_nested_past_the_recursion_limit_is_malformed(payload):
    assert len(payload) <= MAX_PAYLOAD_BYTES
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, as in the ingester's thread
    try:
        assert code_of(payload) == "malformed"
    finally:
        sys.setrecursionlimit(limit)


DAY = 86400.0


@pytest.mark.parametrize("ts", [0, 1.5, 86400 * 365, NOW - 31 * DAY])
def test_a_fix_older_than_the_dates_window_is_refused(ts):
    with pytest.raises(MessageRejected) as err:
        verify(encode(message(ts=ts), KEY))
    assert err.value.code == "timestamp_too_old"
    assert "more than 30 days before today (2027-01-15 UTC)" in err.value.detail
    assert "the earliest accepted is 2026-12-16" in err.value.detail


def test_the_window_for_fixes_is_the_dates_setting():
    assert verify(encode(message(ts=NOW - 29 * DAY), KEY)).ts == NOW - 29 * DAY  # default 30
    window = Settings(dates={"device_fix_max_age_days": 2}).dates.device_fixes
    payload = encode(message(ts=NOW - 3 * DAY), KEY)
    with pytest.raises(MessageRejected) as err:
        decode_and_verify(payload, keys, now=NOW, window=window)
    assert err.value.code == "timestamp_too_old" and "more than 2 days" in err.value.detail
    ok = encode(message(ts=NOW - DAY), KEY)
    assert decode_and_verify(ok, keys, now=NOW, window=window).ts == NOW - DAY


def test_future_timestamp():
    assert code_of(encode(message(ts=NOW + 3600), KEY)) == "future_timestamp"
    assert verify(encode(message(ts=NOW + 10), KEY)).ts == NOW + 10  # within the skew


def test_bad_seal_state():
    assert code_of(resign(message(seal={"id": "S-1", "state": "AJAR"}))) == "bad_seal_state"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1,2]",
        b"\xff\xfe",
        json.dumps({"device": "obu-1"}).encode(),
    ],
)
def test_malformed(payload):
    assert code_of(payload) == "malformed"


@pytest.mark.parametrize(
    "obj",
    [
        {**message(), "extra": 1},
        message(seq="7"),
        message(seq=True),
        message(seq=-1),
        message(lat="25.1"),
        message(seal={"id": "S-1", "state": "CLOSED", "x": 1}),
        message(device="bad id/with slash"),
    ],
)
def test_wrong_shape_is_malformed_even_when_signed(obj):
    assert code_of(resign(obj)) == "malformed"


def test_oversize_payload_is_malformed():
    payload = encode(message(), KEY) + b" " * MAX_PAYLOAD_BYTES
    assert code_of(payload) == "malformed"


def test_encode_refuses_nan():
    with pytest.raises(ValueError):
        canonical_bytes(message(lat=float("nan")))


def test_default_clock_is_now():
    payload = encode(message(ts=time.time()), KEY)
    assert decode_and_verify(payload, keys).seq == 7
