# One LocalCluster serves the ordinary tests of the session (starting one costs seconds on CI's
# two cores); the tests that kill a worker start their own, owned by the runner.

from collections.abc import Iterator

import pytest
from distributed import LocalCluster

#: The arguments of every cluster these tests start: nothing listens beyond 127.0.0.1.
CLUSTER = {
    "n_workers": 2,
    "threads_per_worker": 1,
    "processes": True,
    "dashboard_address": "127.0.0.1:0",  # None would still serve HTTP on every interface
    "host": "127.0.0.1",
}


@pytest.fixture(autouse=True)
def _private_home(flowhook_home):
    """Runs in these tests are recorded in a temporary FLOWHOOK_HOME, never the user's."""


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(**CLUSTER) as shared:
        yield shared
