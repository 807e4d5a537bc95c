"""The offline store: Delta tables per source, validation, ingest."""

from skewless.offline.ingest import IngestResult, ingest_file, resolve_write_target
from skewless.offline.tables import Commit, CompactResult, OfflineTables, WriteResult
from skewless.offline.validate import source_schema, storage_type, validate_rows

__all__ = [
    "Commit",
    "CompactResult",
    "IngestResult",
    "OfflineTables",
    "WriteResult",
    "ingest_file",
    "resolve_write_target",
    "source_schema",
    "storage_type",
    "validate_rows",
]
