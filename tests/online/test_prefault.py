"""Pre-faulting the embedded store's file: checked by what the kernel reports as resident in this
process's page tables for the mapping (/proc/self/smaps), not by our own bookkeeping."""

from __future__ import annotations

import itertools
import mmap
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skewless.online import prefault
from skewless.online.embedded import EmbeddedOnlineStore
from skewless.online.prefault import absent_runs, populate_mapping

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise(MADV_POPULATE_READ) is Linux-only")

VALUES = 2_000
VALUE = b"x" * 4_000


def _resident_bytes(file: Path) -> int:
    """Rss of this process's mappings of ``file``: the pages its page tables map."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=5)
            if "-" in first[0] and len(first) >= 5 and ":" not in first[0]:  # a mapping's header line
                inside = len(first) == 6 and first[5].strip() == str(file.resolve())
            elif inside and first[0] == "Rss:":
                total += int(first[1]) * 1024
    return total


def _filled(path: Path) -> Path:
    store = EmbeddedOnlineStore(path, prefault=False)
    store.put_many([(b"k%05d" % i, VALUE) for i in range(VALUES)])
    store.close()
    return path / "data.mdb"


def test_populates_a_mapping_of_the_file(tmp_path: Path) -> None:
    file = tmp_path / "plain"
    file.write_bytes(b"\1" * (1 << 20))
    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert _resident_bytes(file) < 1 << 20
        if populate_mapping(file) == 0:
            pytest.skip("this kernel has no MADV_POPULATE_READ (Linux < 5.14)")
        assert _resident_bytes(file) == 1 << 20
        assert mapped[-1] == 1


def _kernel_can_populate() -> bool:
    """MADV_POPULATE_READ came with Linux 5.14."""
    major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    return (major, minor) >= (5, 14)


def _page_cache_bytes(file: Path) -> int | None:
    """What util-linux's ``fincore`` says of ``file`` in the page cache (None without fincore)."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(file)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _partly_cached(file: Path) -> tuple[bytes, int]:
    """``file`` written with 3 MB of random bytes, then 1 MB of it alone left in the page cache:
    the content, and what fincore says is cached (skips where it cannot tell)."""
    content = np.random.default_rng(7).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    file.write_bytes(content)
    with open(file, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # clean pages leave the cache
        os.pread(f.fileno(), 1 << 20, 1 << 20)  # ...and some come back
    cached = _page_cache_bytes(file)
    if cached is None or cached == len(content):
        pytest.skip("cannot tell what is cached (no fincore), or pages do not leave the cache (tmpfs)")
    return content, cached


def test_pages_out_of_the_page_cache_are_read_first_then_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "cold"
    content, cached = _partly_cached(file)
    with open(file, "rb") as f:
        read: list[tuple[int, int]] = []
        read_missing = prefault._read_missing
        monkeypatch.setattr(prefault, "_read_missing", lambda file, ranges: (read.extend(ranges), read_missing(file, ranges)))
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if populate_mapping(file) == 0:
                pytest.skip("this kernel has no MADV_POPULATE_READ (Linux < 5.14)")
            assert sum(end - start for start, end in read) == len(content) - cached  # exactly what fincore said is missing
            assert _page_cache_bytes(file) == len(content)
            assert _resident_bytes(file) == len(content)
            assert mapped[:] == content


def test_a_file_that_would_not_fit_in_available_memory_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "cold"
    content, cached = _partly_cached(file)
    missing = len(content) - cached
    monkeypatch.setattr(prefault, "_available_memory", lambda: missing - 4096)  # one page short
    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ):
        assert populate_mapping(file) == 0
        assert _page_cache_bytes(file) == cached  # nothing read in
        assert _resident_bytes(file) < len(content) / 2
        assert f"{missing >> 20} MB of it is not in memory and {(missing - 4096) >> 20} MB is available" in caplog.text
        if not _kernel_can_populate():
            pytest.skip("this kernel has no MADV_POPULATE_READ (Linux < 5.14)")
        monkeypatch.setattr(prefault, "_available_memory", lambda: missing)
        assert populate_mapping(file) == len(content)
        assert _resident_bytes(file) == len(content)


def test_a_cached_file_is_mapped_however_little_memory_is_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _kernel_can_populate():
        pytest.skip("this kernel has no MADV_POPULATE_READ (Linux < 5.14)")
    file = tmp_path / "warm"
    file.write_bytes(b"\1" * (1 << 20))
    file.read_bytes()  # in the page cache: mapping it takes no memory beyond page tables
    monkeypatch.setattr(prefault, "_available_memory", lambda: 0)
    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ):
        assert populate_mapping(file) == 1 << 20
        assert _resident_bytes(file) == 1 << 20


def test_available_memory_is_memavailable(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   11284200 kB\nBuffers: 0 kB\n")
    assert prefault._available_memory(str(meminfo)) == 11284200 * 1024
    meminfo.write_text("MemTotal:       24576000 kB\n")  # kernels before 3.14 have no estimate
    assert prefault._available_memory(str(meminfo)) is None
    assert prefault._available_memory(str(tmp_path / "absent")) is None
    total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    assert 0 < (prefault._available_memory() or 0) <= total  # this machine's, whatever it is now


def test_first_read_maps_the_whole_store(tmp_path: Path) -> None:
    file = _filled(tmp_path / "online")
    store = EmbeddedOnlineStore(tmp_path / "online", prefault=True)
    try:
        assert _resident_bytes(file) < file.stat().st_size / 4  # opening maps nothing yet
        assert store.get_many([b"k00007", b"missing"]) == [VALUE, None]
        assert _resident_bytes(file) >= file.stat().st_size * 0.99
        assert store.read([b"k01999"], []) == ([VALUE], [])
    finally:
        store.close()


def test_without_prefault_only_touched_pages_are_mapped(tmp_path: Path) -> None:
    file = _filled(tmp_path / "online")
    store = EmbeddedOnlineStore(tmp_path / "online", prefault=False)
    try:
        assert store.get_many([b"k00007"]) == [VALUE]
        # A read faults in a few pages (and the kernel maps up to 64 KB around each): far from 8 MB.
        assert _resident_bytes(file) < file.stat().st_size / 4
    finally:
        store.close()


def test_an_unmapped_file_populates_nothing(tmp_path: Path) -> None:
    file = tmp_path / "plain"
    file.write_bytes(b"\0" * 65536)
    assert populate_mapping(file) == 0


@pytest.mark.parametrize("seed", range(20))
def test_absent_runs_are_the_absent_pages(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pages = int(rng.integers(1, 60))
    resident = rng.choice([0, 1, 2, 3], size=pages, p=[0.3, 0.5, 0.1, 0.1]).astype(np.uint8)  # bit 0: resident
    length = (pages - 1) * 4096 + int(rng.integers(1, 4097))  # the last page may be partial
    runs = absent_runs(resident, 4096, length)
    covered = sorted(b for start, end in runs for b in range(start, end))
    expected = [b for p in range(pages) if not resident[p] & 1 for b in range(p * 4096, min((p + 1) * 4096, length))]
    assert covered == expected
    assert all(end < next_start for (_, end), (next_start, _) in itertools.pairwise(runs))  # runs are maximal
