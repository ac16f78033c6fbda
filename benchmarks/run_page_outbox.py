"""The run page of one flow run on a store whose outbox holds 100,000 messages.

    python benchmarks/run_page_outbox.py [--flows 1000] [--tasks 20] [--messages 100000]
                                         [--reads 30] [--home DIR]

Writes ``--flows`` finished flow runs of ``--tasks`` task runs each, and ``--messages``
messages about their task runs (as the rules of a noisy flowhook.toml would queue), straight
through the store's write API, then times :func:`flowhook.views.run_detail` of one flow run
(what ``flowhook runs show`` and the UI's run page read) ``--reads`` times, and prints the
median and the slowest. Run it with ``PYTHONPATH=<another tree>/src`` to time that tree; with
the ``--home`` of an earlier run, it reads that store again (alternate two trees on one store
each that way).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from typing import Any


def fill(store: Any, flows: int, tasks: int, messages: int) -> list[str]:
    """The history and the messages; returns the flow runs' ids."""
    from flowhook import states
    from flowhook.store import NewRun, OutboxEntry, Transition

    start = time.time() - flows * 60.0
    flow_ids: list[str] = []
    task_ids: list[str] = []
    for index in range(flows):
        flow_id = uuid.uuid4()
        created = start + index * 60.0
        writes: list[Any] = [
            NewRun("flow", flow_id, f"run-{index}", "etl", None, created, None),
            Transition("flow", flow_id, flow_id, states.Completed(), 1, None, None),
        ]
        for number in range(tasks):
            task_id = uuid.uuid4()
            writes += [
                NewRun("task", task_id, f"step-{number}", "step", None, created, None, flow_id),
                Transition("task", task_id, flow_id, states.Failed(), 1, None, None),
            ]
            task_ids.append(str(task_id))
        store.write(writes)
        flow_ids.append(str(flow_id))
    pick = random.Random(7)
    for first in range(0, messages, 5000):
        store.enqueue_outbox(
            OutboxEntry(
                f"m{n}", "log", "ops", "r", "task", pick.choice(task_ids), "e", "s", "b", start
            )
            for n in range(first, min(messages, first + 5000))
        )
    return flow_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument(
        "--home", help="the FLOWHOOK_HOME to fill, or read again (default: a new temporary one)"
    )
    options = parser.parse_args()
    home = options.home or tempfile.mkdtemp(prefix="run_page_outbox_")
    os.makedirs(home, exist_ok=True)
    os.environ["FLOWHOOK_HOME"] = home
    # The messages' block, declared: masking a message loads its block (an unknown one would
    # be looked for among the saved blocks, in the store, on every read).
    config = os.path.join(home, "flowhook.toml")
    with open(config, "w") as file:
        file.write('[blocks."log/ops"]\nlogger_name = "run_page_outbox"\n')
    os.environ["FLOWHOOK_CONFIG"] = config
    from flowhook.store import RunQuery, open_store
    from flowhook.views import run_detail

    store = open_store()
    try:
        flow_ids = [run.id for run in store.list_flow_runs(RunQuery(limit=options.flows))]
        if not flow_ids:  # a new store; one filled by an earlier run is read again
            began = time.perf_counter()
            flow_ids = fill(store, options.flows, options.tasks, options.messages)
            print(f"filled in {time.perf_counter() - began:.1f} s: {store.location}")
        run = store.get_run("flow", flow_ids[len(flow_ids) // 2])
        assert run is not None
        times = []
        for _ in range(options.reads):
            began = time.perf_counter()
            detail = run_detail(store, run)
            times.append((time.perf_counter() - began) * 1000)
        print(
            f"run page of one flow run ({len(detail.notifications)} notifications): "
            f"median {statistics.median(times):.1f} ms, slowest {max(times):.1f} ms"
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
