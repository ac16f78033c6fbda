# The fixtures flowhook_home and flowhook_plugins come from the flowhook.testing pytest plugin
# (registered through the pytest11 entry point of the flowhook distribution).

from __future__ import annotations

from collections.abc import Iterator

import pytest
from otel_telemetry import Telemetry

from flowhook.testing import PluginManager
from flowhook_otel import OtelPlugin


@pytest.fixture(autouse=True)
def _private_home(flowhook_home):
    """Runs in these tests are recorded in a temporary FLOWHOOK_HOME, never the user's."""


@pytest.fixture
def telemetry(
    flowhook_plugins: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Telemetry]:
    """An OtelPlugin on in-memory exporters, the only plugin registered; hooks' errors raise."""
    monkeypatch.setenv("FLOWHOOK_STRICT_HOOKS", "1")
    found = Telemetry()
    plugin = OtelPlugin(found.tracer_provider, found.meter_provider)
    flowhook_plugins.register(plugin, name="otel")
    try:
        yield found
    finally:
        plugin.close()
