"""The trace a run was recorded in, when a tracing plugin said so in the run's log.

flowhook-otel (or any plugin) logs, when a flow run starts, one record on the flow run's logger
that begins ``OpenTelemetry trace <32 hex digits>``; it is stored with the run's logs like any
other record. The run's page and ``flowhook runs show`` look for it among the first records of
the run's flow run: no column, no schema change, and nothing shown when no plugin traced the run.
"""

from __future__ import annotations

import logging
import re

from flowhook.store import RunRecord, Store

__all__ = ["TRACE_PREFIX", "recorded_trace_id"]

#: How the record that names a flow run's trace begins.
TRACE_PREFIX = "OpenTelemetry trace "
_TRACE = re.compile(re.escape(TRACE_PREFIX) + r"([0-9a-f]{32})\b")
#: The trace record is logged when the flow run is created, before any record of its own code.
_FIRST_RECORDS = 20


def recorded_trace_id(store: Store, run: RunRecord) -> str | None:
    """The trace id recorded for ``run`` (a task run's is its flow run's), or ``None``."""
    flow_run_id = run.id if run.kind == "flow" else run.flow_run_id
    if flow_run_id is None:
        return None
    for record in store.run_logs(flow_run_id, min_level=logging.INFO, limit=_FIRST_RECORDS):
        if record.flow_run_id == flow_run_id and record.task_run_id is None:
            found = _TRACE.match(record.message)
            if found:
                return found.group(1)
    return None
