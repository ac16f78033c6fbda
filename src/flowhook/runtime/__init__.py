"""What the code of a run can learn about it, where Prefect users read it:
``from flowhook.runtime import flow_run, task_run``.

Each attribute is read when it is accessed, from the run in progress (also in its hooks);
outside any run it has an empty value (None, ``{}``, ``[]`` or 0).
"""

from . import flow_run, task_run

__all__ = ["flow_run", "task_run"]
