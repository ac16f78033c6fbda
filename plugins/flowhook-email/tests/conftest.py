# The fixtures flowhook_home and flowhook_smtp_server come from the flowhook.testing pytest plugin
# (registered through the pytest11 entry point of the flowhook distribution); the SMTP server
# behind the latter comes with the test extra's flowhook[testing].

import pytest


@pytest.fixture(autouse=True)
def _private_home(flowhook_home):
    """Runs in these tests are recorded in a temporary FLOWHOOK_HOME, never the user's."""
