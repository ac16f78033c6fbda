# The fixtures flowhook_home and flowhook_slack_webhook_server (a scripted HTTP server on
# 127.0.0.1 that records every request: here the receiver of Apprise's json://, form://, xml://
# and service URLs) come from the flowhook.testing pytest plugin.

import pytest


@pytest.fixture(autouse=True)
def _private_home(flowhook_home):
    """Runs and blocks in these tests are kept in a temporary FLOWHOOK_HOME, never the user's."""
