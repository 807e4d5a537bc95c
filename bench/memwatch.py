"""Peak memory of this process, and of a child process tree, from /proc (Linux only, no psutil).

Shared by ``offline_pit.py`` (skewless' venv) and ``feast_offline.py`` (Feast's venv): it only
needs the standard library.

- :class:`PeakMemory` measures the current process around a block of code: it resets the
  kernel's high-water mark (``/proc/self/clear_refs``), samples ``VmRSS`` from a thread, and
  reads ``VmHWM`` at the end. DuckDB and Arrow allocate inside the process, so this counts them.
- :func:`tree_rss` sums ``VmRSS`` over a process and all its descendants, for a parent that
  watches a child (time limit and memory guard).
"""

from __future__ import annotations

import os
import re
import resource
import threading
from pathlib import Path

_FIELD = re.compile(r"^(\w+):\s+(\d+)\s+kB", re.MULTILINE)


def status_kib(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS``, ``VmHWM``, ... of a process in KiB (empty if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    return {name: int(value) for name, value in _FIELD.findall(text)}


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    result, pending = [], [pid]
    while pending:
        current = pending.pop()
        result.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return result


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and its descendants."""
    return sum(status_kib(p).get("VmRSS", 0) for p in descendants(pid)) * 1024


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.result()``: baseline and peak RSS in bytes."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.baseline = 0
        self.sampled_peak = 0
        self.hwm_reset = False
        self.hwm = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        try:  # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.baseline = status_kib().get("VmRSS", 0) * 1024
        self.sampled_peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.sampled_peak = max(self.sampled_peak, status_kib().get("VmRSS", 0) * 1024)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        status = status_kib()
        self.sampled_peak = max(self.sampled_peak, status.get("VmRSS", 0) * 1024)
        self.hwm = status.get("VmHWM", 0) * 1024

    @property
    def peak(self) -> int:
        """The best peak we have: the kernel's high-water mark if it could be reset, else sampled."""
        return max(self.hwm, self.sampled_peak) if self.hwm_reset else self.sampled_peak

    def result(self) -> dict[str, int | bool]:
        return {
            "baseline_rss_bytes": self.baseline,
            "peak_rss_bytes": self.peak,
            "sampled_peak_rss_bytes": self.sampled_peak,
            "vmhwm_bytes": self.hwm,
            "vmhwm_was_reset": self.hwm_reset,
            # ru_maxrss: lifetime peak of this process (KiB on Linux), children not included.
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "pid": os.getpid(),
        }
