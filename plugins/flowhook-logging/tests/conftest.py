# The fixtures flowhook_home, flowhook_plugins and flowhook_hook_recorder come from the
# flowhook.testing pytest plugin (registered through the pytest11 entry point of the flowhook
# distribution).

import pytest


@pytest.fixture(autouse=True)
def _private_home(flowhook_home):
    """Runs in these tests are recorded in a temporary FLOWHOOK_HOME, never the user's."""
