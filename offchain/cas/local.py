"""The embedded content store: one file per object under a directory, named by its CID.

Layout: `root/<two shard chars>/<cid>`.  The shard is the two characters before the last
one of the CID — Kubo's flatfs `next-to-last/2` scheme.  Not the first two after 'b': every
raw sha2-256 CIDv1 starts `bafkrei`, so those would put every object in one directory `af/`;
the last character carries only 3 bits, the two before it 10 bits of the digest (1,024
evenly filled directories).

Writes are atomic (a private temp file in the shard, then `os.replace`), so a reader sees a
whole object or none, and concurrent writers of the same bytes are harmless: they race to
rename identical content.  With `fsync=True` (the default) the file and its directory are
flushed before `put` returns, so an object survives a power cut once its CID has been
handed out and perhaps anchored on chain.  That costs 0.3-4 ms per object on this class of
disk; `put_many` issues the flushes of a batch together, so the filesystem commits them
together (about 6,000 objects/s instead of 250-3,000), and from 16 new objects on Linux it
flushes the whole filesystem twice instead (`syncfs(2)`: once before the renames, so no name
ever points at unwritten bytes, once after, for the names): two system calls instead of one
per file and one per directory, about a third of the processor time of the batch.  On a
filesystem shared with busy writers a syncfs also waits for their dirty pages.  Pass `fsync=False` where losing
the last seconds of writes is acceptable (development, benchmarks, caches).  Reads verify
the sha256 against the CID, so a damaged copy raises `ContentCorrupted`, never wrong bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from offchain.cas.cid import cid_of, parse_cid
from offchain.cas.errors import ContentCorrupted, ContentNotFound, ContentTooLarge

DEFAULT_MAX_OBJECT_BYTES = 16 * 1024 * 1024
_TMP_PREFIX = ".tmp-"
_FSYNC_THREADS = 32
# From this many new objects, one syncfs(2) of the store's filesystem before the renames and
# one after replace a flush per file and per directory (hundreds of system calls).
_SYNCFS_FROM = 16


class LocalStore:
    """Content-addressed files under `root`; see the module docstring for the guarantees."""

    kind = "local"

    def __init__(
        self,
        root: Path | str,
        *,
        fsync: bool = True,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    ) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.max_object_bytes = max_object_bytes
        self._shards: set[str] = set()  # shard directories known to exist
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r}, fsync={self.fsync})"

    def path_of(self, cid: str) -> Path:
        """Where the object `cid` lives (whether or not it is there)."""
        parse_cid(cid)  # also keeps anything but a CID out of the path
        return self.root / cid[-3:-1] / cid

    def put(self, data: bytes) -> str:
        """Store `data`; its CID.  Putting the same bytes again keeps the one existing file."""
        return self.put_many([data])[0]

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store every item; their CIDs in order.

        The fast path for batches: with `fsync` on, the files are flushed in parallel (the
        filesystem commits them together) and each shard directory once, instead of one
        serial flush pair per object.
        """
        cids: list[str] = []
        pending: dict[str, tuple[str, str]] = {}  # cid -> (temp file, final path)
        try:
            for data in items:
                if len(data) > self.max_object_bytes:
                    raise ContentTooLarge(len(data), self.max_object_bytes)
                cid = cid_of(data)
                cids.append(cid)
                if cid not in pending:
                    written = self._write_temp(cid, data)
                    if written is not None:
                        pending[cid] = written
            whole_fs = self.fsync and len(pending) >= _SYNCFS_FROM and _syncfs is not None
            if self.fsync and pending:  # the bytes are on disk before any name points at them
                if whole_fs:
                    self._syncfs()
                else:
                    _parallel(_fsync_file, [tmp for tmp, _ in pending.values()])
            for tmp, path in pending.values():
                os.replace(tmp, path)  # atomic; a concurrent writer renamed identical bytes
        except BaseException:
            for tmp, _ in pending.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        if self.fsync and pending:  # and the names are on disk before the CIDs are handed out
            if whole_fs:
                self._syncfs()
            else:
                _parallel(_fsync_dir, sorted({os.path.dirname(p) for _, p in pending.values()}))
        return cids

    def _syncfs(self) -> None:
        if _syncfs is None:  # callers check first; this names the cause if one forgets
            raise OSError("syncfs(2) is not available on this system")
        fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs of the store's filesystem failed: {os.strerror(err)}")
        finally:
            os.close(fd)

    def get(self, cid: str) -> bytes:
        """The bytes of `cid`, checked against it (`ContentNotFound`, `ContentCorrupted`)."""
        digest = parse_cid(cid)
        path = f"{self._root}/{cid[-3:-1]}/{cid}"
        try:
            with open(path, "rb", buffering=0) as f:
                data = f.read()
        except FileNotFoundError:
            raise ContentNotFound(cid, str(self.root)) from None
        if hashlib.sha256(data).digest() != digest:
            raise ContentCorrupted(cid, path)
        return data

    def has(self, cid: str) -> bool:
        return self.path_of(cid).is_file()

    def size(self, cid: str) -> int:
        """Size in bytes of the stored object (not re-verified; `get` does that)."""
        try:
            return self.path_of(cid).stat().st_size
        except FileNotFoundError:
            raise ContentNotFound(cid, str(self.root)) from None

    def _write_temp(self, cid: str, data: bytes) -> tuple[str, str] | None:
        """Write `data` to a temp file beside its final path, unless a copy is already there.

        Returns (temp file, final path), or None when the object is present.  A present file
        of the right length is taken as the object: `get` catches a damaged one, and a file
        of the wrong length (a torn copy from outside this class) is rewritten here.
        Plain string paths: pathlib would double the cost of this hot path.
        """
        shard = cid[-3:-1]
        folder = f"{self._root}/{shard}"
        path = f"{folder}/{cid}"
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_size == len(data):
                return None
        if shard not in self._shards:
            os.makedirs(folder, exist_ok=True)
            self._shards.add(shard)
        tmp = f"{folder}/{_TMP_PREFIX}{cid}-{os.urandom(6).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp, path

    def remove_stale_temp_files(self) -> int:
        """Delete temp files left by writers that crashed mid-write; how many were removed.

        Only safe while no other process writes to this store (e.g. at node start).
        """
        removed = 0
        for tmp in self.root.glob(f"*/{_TMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed += 1
        return removed


def _fsync_file(path: str) -> None:
    _fsync(path, os.O_RDONLY)


def _fsync_dir(path: str) -> None:
    _fsync(path, os.O_RDONLY | os.O_DIRECTORY)


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux `syncfs(2)` through the C library, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_syncfs = _load_syncfs()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _parallel(fn: Callable[[str], None], paths: Sequence[str]) -> None:
    """Run `fn` over `paths` on a few threads, a slice each: fsync waits on the disk, not
    the CPU, and flushes issued together are committed together by the filesystem.  The
    threads are kept between calls (starting 32 threads per batch cost more than the
    flushes of a small one)."""
    global _pool
    if len(paths) == 1:
        fn(paths[0])
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="cas-fsync")
        pool = _pool
    workers = min(_FSYNC_THREADS, len(paths))
    for future in [pool.submit(_each, fn, paths[i::workers]) for i in range(workers)]:
        future.result()


def _each(fn: Callable[[str], None], paths: Sequence[str]) -> None:
    for path in paths:
        fn(path)
