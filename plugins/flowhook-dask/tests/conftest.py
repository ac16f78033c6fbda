# One LocalCluster serves the ordinary tests of the session (starting one costs seconds on CI's
# two cores); the tests that kill a worker start their own, owned by the runner.

from collections.abc import Iterator

import pytest
from dask_tasks import CLUSTER
from distributed import LocalCluster


@pytest.fixture(autouse=True)
def _private_home(flowhook_home):
    """Runs in these tests are recorded in a temporary FLOWHOOK_HOME, never the user's."""


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(**CLUSTER) as shared:
        yield shared
