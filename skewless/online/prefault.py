"""Mapping a memory-mapped file into this process's page tables before reads need it.

LMDB reads through a shared mapping of the store's file. The pages may all be in the page cache,
yet a process that has not touched a page before takes a page fault on it (~1-5 µs in a VM). On a
1M-user store a fresh serving process paid ~6 faults a slate in its first few thousand slates, and
their p99 was ~0.25 ms higher than once it had touched its working set. One
``madvise(MADV_POPULATE_READ)`` maps every page at once instead: 1.8 s for 8.3 GB in the page
cache in 4 KB pages, 0.15 s when the kernel holds the file in 2 MB folios and maps them whole.

Pages not in the page cache are read first, in large sequential reads: populating through a
mapping LMDB opened for random access reads them 4 KB at a time (137 s for that 8.3 GB file from
disk, against 16.7 s sequentially, which also leaves it in large folios). A file whose missing
part is more than the memory the kernel says is available (MemAvailable) is left alone, with a
warning: it cannot all stay in memory, so reading it in would evict its own pages in turn. Linux
5.14+; elsewhere nothing is done and reads fault as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import mmap
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

MADV_POPULATE_READ = 22  # linux/mman.h
_READ_CHUNK = 8 << 20

log = logging.getLogger(__name__)


def populate_mapping(file: Path) -> int:
    """Pre-fault this process's mappings of ``file`` up to its size: the bytes mapped, 0 when the
    file is not mapped, its missing part is more than the available memory, or the
    platform cannot (not Linux, kernel older than 5.14)."""
    if not sys.platform.startswith("linux"):
        return 0
    size = os.path.getsize(file)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    madvise = _function(libc, "madvise", ctypes.c_int)
    mincore = _function(libc, "mincore", ctypes.c_void_p)
    mapped = [(start, min(end - start, size)) for start, end in _mappings(file.resolve()) if size > 0]
    missing = [_missing_ranges(mincore, start, length) for start, length in mapped]
    to_read, available = sum(end - start for ranges in missing for start, end in ranges), _available_memory()
    if available is not None and to_read > available:
        log.warning(
            "not mapping %s ahead of reads: %d MB of it is not in memory and %d MB is available; reads will fault"
            " its pages in as they need them (online_store: {prefault: false} skips both the prefault and this warning)",
            file, to_read >> 20, available >> 20,
        )  # fmt: skip
        return 0
    done = 0
    for (start, length), ranges in zip(mapped, missing, strict=True):
        _read_missing(file, ranges)
        if madvise(start, length, MADV_POPULATE_READ) == 0:
            done += length
    return done


def _available_memory(meminfo_file: str = "/proc/meminfo") -> int | None:
    """The kernel's estimate of the memory new work can take without swapping (MemAvailable)."""
    try:
        with open(meminfo_file) as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _missing_ranges(mincore: Callable[[int, int, int], int], start: int, length: int) -> list[tuple[int, int]]:
    """(offset, end) of each run of the mapping's pages that are not in the page cache."""
    page = mmap.PAGESIZE
    resident = np.zeros((length + page - 1) // page, dtype=np.uint8)
    if mincore(start, length, resident.ctypes.data) != 0:
        return []  # cannot tell: populating reads whatever is missing
    return absent_runs(resident, page, length)


def absent_runs(resident: np.ndarray, page: int, length: int) -> list[tuple[int, int]]:
    """(offset, end) of each run of pages whose ``mincore`` byte says absent (low bit 0), the last
    one cut at ``length``."""
    missing = np.flatnonzero((resident & 1) == 0)
    if missing.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(missing) > 1)
    firsts, lasts = missing[np.r_[0, breaks + 1]], missing[np.r_[breaks, missing.size - 1]]
    return [(first * page, min((last + 1) * page, length)) for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True)]


def _read_missing(file: Path, ranges: list[tuple[int, int]]) -> None:
    if not ranges:  # the usual case: the file is in the page cache
        return
    buffer = bytearray(_READ_CHUNK)
    view = memoryview(buffer)
    with open(file, "rb", buffering=0) as f:
        for offset, end in ranges:
            while offset < end:
                read = os.preadv(f.fileno(), [view[: min(_READ_CHUNK, end - offset)]], offset)
                if read <= 0:
                    break
                offset += read


def _mappings(file: Path) -> list[tuple[int, int]]:
    """(start, end) of each mapping of ``file`` whose offset is 0, from /proc/self/maps."""
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") == str(file) and int(fields[2], 16) == 0:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                found.append((start, end))
    return found


def _function(libc: ctypes.CDLL, name: str, third: type) -> Callable[[int, int, int], int]:
    """``libc.<name>(address, length, third)``, returning 0 on success."""
    function = getattr(libc, name)
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, third]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]
