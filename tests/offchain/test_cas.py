"""The content-addressed store: IPFS-identical CIDs, verified reads, atomic idempotent writes."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import socket
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.cas import (
    CID_LENGTH,
    ContentCorrupted,
    ContentNotFound,
    ContentStore,
    ContentTooLarge,
    InvalidCid,
    IpfsStore,
    LocalStore,
    StoreError,
    StoreUnavailable,
    cid_from_digest,
    cid_of,
    open_store,
    parse_cid,
)
from offchain.errors import OffchainError


def expected_cid(data: bytes, *, version=1, codec=0x55, mh=0x12, digest=None) -> str:
    """A CID built by hand from the spec, independent of the code under test.

    Binary CIDv1: <version varint> <codec varint> <multihash: fn varint, length varint,
    digest>; text: multibase prefix 'b' + RFC 4648 base32, lower case, no padding.
    (All values used here are below 0x80, so each varint is one byte.)
    """
    digest = hashlib.sha256(data).digest() if digest is None else digest
    binary = bytes([version, codec, mh, len(digest)]) + digest
    return "b" + base64.b32encode(binary).decode().lower().rstrip("=")


# ---- CIDs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello world\n", b"hello world", bytes(range(256)) * 40])
def test_cid_is_cidv1_raw_sha256_base32(data: bytes) -> None:
    cid = cid_of(data)
    assert cid == expected_cid(data)
    assert len(cid) == CID_LENGTH and cid.startswith("bafkrei")
    assert parse_cid(cid) == hashlib.sha256(data).digest()
    assert cid_from_digest(hashlib.sha256(data).digest()) == cid


def test_cid_matches_the_values_ipfs_gives() -> None:
    """Published Kubo values (`ipfs block put --cid-codec raw`), rechecked by computation.

    `bafkreifzjut3...` is often quoted as the CID of "hello world\\n"; computing it shows it
    is the CID of "hello world" without the newline.
    """
    hello = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    empty = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert expected_cid(b"hello world") == hello == cid_of(b"hello world")
    assert expected_cid(b"") == empty == cid_of(b"")
    assert cid_of(b"hello world\n") == expected_cid(b"hello world\n") != hello
    assert cid_of(b"hello world\n") == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


REJECTED = {
    "cidv0": ("QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u", "CIDv0"),
    "dag-pb": (expected_cid(b"x", codec=0x70), "codec dag-pb"),
    "dag-cbor": (expected_cid(b"x", codec=0x71), "codec dag-cbor"),
    "sha2-512": (expected_cid(b"x", mh=0x13, digest=hashlib.sha512(b"x").digest()), "sha2-512"),
    "sha3-256": (expected_cid(b"x", mh=0x16, digest=hashlib.sha3_256(b"x").digest()), "sha3-256"),
    "identity": (expected_cid(b"x", mh=0x00, digest=b"x"), "identity"),
    "short digest": (expected_cid(b"x", digest=bytes(16)), "32 bytes"),
    "version 2": (expected_cid(b"x", version=2), "version 2"),
    "base58btc": ("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", "base58btc"),
    "upper base32": (cid_of(b"x").upper(), "upper-case"),
    "base16": ("f01551220" + hashlib.sha256(b"x").hexdigest(), "base16"),
    "bad base32 char": (cid_of(b"x")[:-1] + "1", "base32"),
    "stray bits": (cid_of(b"hello world")[:-1] + "f", "non-canonical"),
    "truncated": (cid_of(b"x")[:-2], "31 follow"),
    "one char short": (cid_of(b"x")[:-1], "wrong length"),
    "too long": (cid_of(b"x") + "aaaaaaaa", "37 follow"),
    "empty": ("", "empty"),
    "prefix only": ("b", "truncated"),
    "path": ("../../etc/passwd", "multibase"),
    "whitespace": (" " + cid_of(b"x"), "multibase"),
    "newline": (cid_of(b"x") + "\n", "base32"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_parse_cid_rejects_other_forms_saying_why(case: str) -> None:
    cid, reason = REJECTED[case]
    with pytest.raises(InvalidCid, match="invalid content id") as err:
        parse_cid(cid)
    assert reason in str(err.value)
    assert err.value.cid == cid and err.value.code == "invalid_cid"


def test_parse_cid_rejects_non_strings() -> None:
    with pytest.raises(InvalidCid, match="expected a string"):
        parse_cid(cid_of(b"x").encode())  # type: ignore[arg-type]


@given(st.binary(max_size=512))
def test_every_payload_round_trips(data: bytes) -> None:
    assert parse_cid(cid_of(data)) == hashlib.sha256(data).digest()


_B32 = "abcdefghijklmnopqrstuvwxyz234567"


@given(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet=_B32, min_size=52, max_size=52).map(lambda t: "bafkrei" + t),
    )
)
def test_parse_cid_accepts_only_canonical_ids(text: str) -> None:
    """Any string is exactly the CID of its digest, or raises InvalidCid (nothing else)."""
    try:
        digest = parse_cid(text)
    except InvalidCid:
        return
    assert cid_from_digest(digest) == text


# ---- LocalStore ---------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["nofsync", "fsync"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "cas", fsync=request.param)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_get_round_trip_and_layout(store: LocalStore) -> None:
    data = b"<CertificateOfOrigin>...</CertificateOfOrigin>"
    cid = store.put(data)
    assert cid == expected_cid(data)
    assert store.get(cid) == data
    assert store.has(cid) and store.size(cid) == len(data)
    path = store.root / cid[-3:-1] / cid  # Kubo flatfs next-to-last/2 sharding
    assert store.path_of(cid) == path
    assert files_under(store.root) == [path], "one file, no temp file left behind"
    assert path.read_bytes() == data
    assert isinstance(store, ContentStore)


def test_shards_spread_over_many_directories(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    store.put_many([i.to_bytes(4, "big") for i in range(300)])
    shards = {p.name for p in tmp_path.iterdir()}
    assert len(shards) > 200, "the first characters after 'b' are constant; must not shard on them"


def test_putting_the_same_bytes_twice_keeps_one_file(store: LocalStore) -> None:
    cid = store.put(b"same")
    before = store.path_of(cid).stat()
    assert store.put(b"same") == cid
    assert store.put_many([b"same", b"same"]) == [cid, cid]
    after = store.path_of(cid).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert len(files_under(store.root)) == 1


def test_put_many_keeps_order_and_handles_duplicates_and_empty(store: LocalStore) -> None:
    items = [b"a", b"b", b"", b"a", b"c" * 5000]
    cids = store.put_many(items)
    assert cids == [expected_cid(d) for d in items]
    assert [store.get(c) for c in cids] == items
    assert len(files_under(store.root)) == 4
    assert store.put_many([]) == []


def test_missing_content_is_not_found(store: LocalStore) -> None:
    cid = cid_of(b"never stored")
    assert not store.has(cid)
    with pytest.raises(ContentNotFound, match=cid) as err:
        store.get(cid)
    assert err.value.cid == cid and err.value.code == "content_not_found"
    with pytest.raises(ContentNotFound):
        store.size(cid)


def test_corrupted_file_is_never_returned(store: LocalStore) -> None:
    data = b"signed certificate bytes" * 10
    cid = store.put(data)
    path = store.path_of(cid)
    damaged = bytearray(data)
    damaged[7] ^= 0x01
    path.write_bytes(bytes(damaged))  # same length: only the hash can tell
    with pytest.raises(ContentCorrupted, match=cid) as err:
        store.get(cid)
    assert err.value.cid == cid and err.value.code == "content_corrupted"
    assert str(path) in str(err.value)


def test_torn_file_is_repaired_by_putting_the_original_again(store: LocalStore) -> None:
    data = b"0123456789" * 100
    cid = store.put(data)
    store.path_of(cid).write_bytes(data[:100])
    with pytest.raises(ContentCorrupted):
        store.get(cid)
    assert store.put(data) == cid
    assert store.get(cid) == data


def test_objects_over_the_cap_are_refused_and_not_written(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, max_object_bytes=1024, fsync=False)
    assert store.get(store.put(b"x" * 1024)) == b"x" * 1024
    with pytest.raises(ContentTooLarge, match=r"1025 bytes exceeds .* 1024") as err:
        store.put(b"x" * 1025)
    assert (err.value.size, err.value.limit) == (1025, 1024)
    with pytest.raises(ContentTooLarge):
        store.put_many([b"ok", b"y" * 2000])
    assert len(files_under(tmp_path)) == 1, "a refused batch leaves no file, not even temp ones"


def test_default_cap_is_16_mib(tmp_path: Path) -> None:
    assert LocalStore(tmp_path).max_object_bytes == 16 * 1024 * 1024


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u", ""]
)
def test_invalid_ids_never_touch_the_filesystem(store: LocalStore, bad: str) -> None:
    for op in (store.get, store.has, store.size, store.path_of):
        with pytest.raises(InvalidCid):
            op(bad)


def _writer(root: str, seed: int, out: multiprocessing.Queue) -> None:
    store = LocalStore(root, fsync=False)
    shared = [f"shared-{i}".encode() * 50 for i in range(40)]
    own = [f"own-{seed}-{i}".encode() * 50 for i in range(40)]
    cids: list[str] = []

    def thread_work() -> None:
        cids.extend(store.put_many(shared[::-1]))

    t = threading.Thread(target=thread_work)
    t.start()
    cids += [store.put(d) for d in shared + own]
    t.join()
    out.put(sorted(set(cids)))


def test_concurrent_writers_in_processes_and_threads_are_safe(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), n, out)) for n in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    store = LocalStore(tmp_path)
    every = {c for r in results for c in r}
    assert len(every) == 40 + 4 * 40
    assert {p.name for p in files_under(tmp_path)} == every, "no temp files, no strays"
    for cid in every:
        store.get(cid)  # verifies every file


def test_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    cid = store.put(b"kept")
    (store.path_of(cid).parent / f".tmp-{cid}-dead").write_bytes(b"half")
    assert store.remove_stale_temp_files() == 1
    assert files_under(tmp_path) == [store.path_of(cid)]


# ---- open_store and the error family ------------------------------------------------------


def test_open_store_selects_the_kind(tmp_path: Path) -> None:
    local = open_store("local", root=tmp_path, fsync=False)
    assert isinstance(local, LocalStore) and local.kind == "local"
    ipfs = open_store("ipfs", api_url="http://127.0.0.1:1/")
    assert isinstance(ipfs, IpfsStore) and ipfs.api_url == "http://127.0.0.1:1"
    assert isinstance(ipfs, ContentStore)
    with pytest.raises(StoreError, match=r"unknown content store kind 's3'.*local, ipfs"):
        open_store("s3")


def test_errors_are_one_family_with_distinct_codes() -> None:
    kinds = [InvalidCid, ContentNotFound, ContentCorrupted, ContentTooLarge, StoreUnavailable]
    assert all(issubclass(k, StoreError) for k in kinds)
    assert issubclass(StoreError, OffchainError)
    codes = [k.code for k in [StoreError, *kinds]]
    assert len(set(codes)) == len(codes)
    err = ContentNotFound(cid_of(b"x"), "/var/cas")
    assert (err.code, err.http_status) == ("content_not_found", 404)
    assert err.detail == str(err) and "/var/cas" in err.detail


# ---- IpfsStore against a fake Kubo --------------------------------------------------------


class FakeKubo(ThreadingHTTPServer):
    """Just enough of Kubo's RPC API: block/put, block/get, block/stat, version."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KuboHandler)
        self.blocks: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lie_about_cid = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _KuboHandler(BaseHTTPRequestHandler):
    server: FakeKubo

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # Kubo's RPC API answers 405 to GET
        self._reply(405, b"405 - Method Not Allowed", "text/plain")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.server.requests.append((url.path, params))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path == "/api/v0/version":
            return self._json(200, {"Version": "0.39.0-fake"})
        if url.path == "/api/v0/block/put":
            part = self._first_part(body)
            cid = expected_cid(part)
            if self.server.lie_about_cid:
                cid = expected_cid(part, codec=0x70)
            self.server.blocks[cid] = part
            return self._json(200, {"Key": cid, "Size": len(part)})
        if url.path in ("/api/v0/block/get", "/api/v0/block/stat"):
            cid = params.get("arg", "")
            if cid not in self.server.blocks:
                msg = f"block was not found locally (offline): ipld: could not find {cid}"
                return self._json(500, {"Message": msg, "Code": 0, "Type": "error"})
            data = self.server.blocks[cid]
            if url.path.endswith("get"):
                return self._reply(200, data, "text/plain")
            return self._json(200, {"Key": cid, "Size": len(data)})
        return self._reply(404, b"404 page not found", "text/plain")

    def _first_part(self, body: bytes) -> bytes:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        msg = BytesParser(policy=HTTP).parsebytes(head + body)
        (part,) = list(msg.iter_parts())
        return part.get_payload(decode=True)

    def _json(self, status: int, obj: dict) -> None:
        self._reply(status, json.dumps(obj).encode(), "application/json")

    def _reply(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def kubo() -> Iterator[FakeKubo]:
    server = FakeKubo()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_ipfs(kubo: FakeKubo) -> Iterator[IpfsStore]:
    with IpfsStore(kubo.url, timeout_s=5) as store:
        yield store


def test_ipfs_store_speaks_kubo_rpc(kubo: FakeKubo, fake_ipfs: IpfsStore) -> None:
    """Kubo cannot be installed on the test machine, so a fake Kubo (a thread serving the
    four RPC calls on 127.0.0.1) checks the HTTP side: parameters, multipart upload, JSON
    answers and Kubo's error format.  `test_real_kubo` runs the same store against a daemon.
    """
    assert fake_ipfs.version() == "0.39.0-fake"
    data = b"<Invoice/>" * 30
    cid = fake_ipfs.put(data)
    assert cid == expected_cid(data)
    assert fake_ipfs.get(cid) == data
    assert fake_ipfs.has(cid) and fake_ipfs.size(cid) == len(data)
    path, params = kubo.requests[1]
    assert path == "/api/v0/block/put"
    assert params == {"cid-codec": "raw", "mhtype": "sha2-256", "mhlen": "32", "pin": "true"}
    assert kubo.requests[2] == ("/api/v0/block/get", {"arg": cid, "offline": "true"})
    assert fake_ipfs.put_many([b"a", b"b", b"a"]) == [cid_of(b"a"), cid_of(b"b"), cid_of(b"a")]


def test_ipfs_missing_block_is_not_found(fake_ipfs: IpfsStore) -> None:
    cid = cid_of(b"absent")
    assert not fake_ipfs.has(cid)
    with pytest.raises(ContentNotFound, match=cid):
        fake_ipfs.get(cid)
    with pytest.raises(ContentNotFound):
        fake_ipfs.size(cid)


def test_ipfs_wrong_bytes_are_never_returned(kubo: FakeKubo, fake_ipfs: IpfsStore) -> None:
    cid = fake_ipfs.put(b"original")
    kubo.blocks[cid] = b"tampered"
    with pytest.raises(ContentCorrupted, match=cid):
        fake_ipfs.get(cid)


def test_ipfs_node_answering_another_cid_is_an_error(kubo: FakeKubo, fake_ipfs: IpfsStore) -> None:
    kubo.lie_about_cid = True
    with pytest.raises(StoreError, match="CIDv1 raw blocks"):
        fake_ipfs.put(b"data")


def test_ipfs_big_blocks_ask_kubo_to_allow_them(kubo: FakeKubo, fake_ipfs: IpfsStore) -> None:
    big = os.urandom(1024 * 1024 + 1)
    assert fake_ipfs.get(fake_ipfs.put(big)) == big
    assert kubo.requests[-2][1]["allow-big-block"] == "true"
    with pytest.raises(ContentTooLarge):
        IpfsStore(kubo.url, max_object_bytes=10).put(b"x" * 11)


def test_ipfs_down_is_unavailable_with_the_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    store = IpfsStore(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(StoreUnavailable, match="ipfs daemon") as err:
        store.put(b"x")
    assert err.value.code == "store_unavailable"


def test_ipfs_invalid_cid_is_refused_before_any_request(
    kubo: FakeKubo, fake_ipfs: IpfsStore
) -> None:
    with pytest.raises(InvalidCid):
        fake_ipfs.get("QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u")
    assert kubo.requests == []


# ---- IpfsStore against a real Kubo --------------------------------------------------------

KUBO_API = os.environ.get("SMARTCUSTOMS_IPFS_API", "http://127.0.0.1:5001")


@pytest.mark.integration
def test_real_kubo() -> None:
    """Same bytes, same CID in Kubo and in LocalStore; reads verified; absent is not found."""
    with IpfsStore(KUBO_API, timeout_s=5) as store:
        try:
            version = store.version()
        except StoreUnavailable as exc:
            pytest.skip(f"no Kubo RPC API at {KUBO_API} (set SMARTCUSTOMS_IPFS_API): {exc}")
        data = b"smart customs kubo check " + os.urandom(16)
        cid = store.put(data)
        assert cid == cid_of(data) == expected_cid(data), f"Kubo {version}"
        assert store.get(cid) == data
        assert store.has(cid) and store.size(cid) == len(data)
        absent = cid_of(os.urandom(32))
        assert not store.has(absent)
        with pytest.raises(ContentNotFound):
            store.get(absent)


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "per-file"])
def test_a_large_batch_is_flushed_with_two_filesystem_syncs(tmp_path, monkeypatch, syncfs):
    """From 16 new objects the store flushes its filesystem before and after the renames
    (syncfs) instead of each file and directory; without syncfs, each one."""
    from offchain.cas import local

    calls: list[str] = []
    real_fsync = local._fsync
    monkeypatch.setattr(
        local, "_fsync", lambda path, flags: calls.append(path) or real_fsync(path, flags)
    )
    if syncfs and local._syncfs is None:
        pytest.skip("no syncfs(2) here")
    if syncfs:
        real = local._syncfs
        monkeypatch.setattr(local, "_syncfs", lambda fd: calls.append("syncfs") or real(fd))
    else:
        monkeypatch.setattr(local, "_syncfs", None)
    store = LocalStore(tmp_path / "cas", fsync=True)
    items = [f"object {i}".encode() for i in range(20)]
    cids = store.put_many(items)
    assert [store.get(c) for c in cids] == items
    if syncfs:
        assert calls == ["syncfs", "syncfs"]
    else:
        assert calls.count("syncfs") == 0 and len(calls) >= 20 + 1
    calls.clear()
    store.put_many([b"a few", b"objects"])  # under the threshold: per file, as before
    assert "syncfs" not in calls and len(calls) >= 2
