"""Window and tile arithmetic shared by the offline engine and the online store."""

from skewless.aggregation.windows import window_start_sql, window_start_us

__all__ = ["window_start_sql", "window_start_us"]
