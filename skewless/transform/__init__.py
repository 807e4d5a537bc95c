"""Transformations that run identically offline (training sets) and online (serving)."""

from skewless.transform.on_demand import apply_on_demand, arrow_to_udf_input

__all__ = ["apply_on_demand", "arrow_to_udf_input"]
