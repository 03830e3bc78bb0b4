"""Moved: trial records live in `bench.trial.record`.

These names are kept here for code written against the old layout. `load_records` is not: it now
returns (records, problems) and is imported from `bench.trial.record`.
"""

from bench.trial.record import (  # noqa: F401
    FINISHED_OUTCOMES,
    SCHEMA_VERSION,
    Record,
    RecordError,
    TrialId,
    read_record,
    record_paths,
    set_aside,
    write_record,
)
