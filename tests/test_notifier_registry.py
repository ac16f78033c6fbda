from __future__ import annotations

from typing import ClassVar

import attrs
import pytest

from flowhook import PluginError, hookimpl
from flowhook.notifications import notifier_types
from flowhook_hookspec.notify import Notifier


@attrs.define
class Pager(Notifier):
    block_type: ClassVar[str] = "pager"
    number: str = ""


def plugin_registering(*classes):
    class Plugin:
        @hookimpl
        def register_notifiers(self, register):
            for cls in classes:
                register(cls)

    return Plugin()


def test_hook_register_notifiers_collects_types(plugin_manager) -> None:
    plugin_manager.register(plugin_registering(Pager), name="pager-plugin")
    assert notifier_types() == {"pager": Pager}


def test_two_plugins_registering_one_block_type_is_an_error_naming_both(plugin_manager) -> None:
    @attrs.define
    class OtherPager(Notifier):
        block_type: ClassVar[str] = "pager"

    plugin_manager.register(plugin_registering(Pager), name="first")
    plugin_manager.register(plugin_registering(OtherPager), name="second")
    with pytest.raises(PluginError, match=r"'pager'.*'(first|second)'.*'(second|first)'"):
        notifier_types()


def test_registering_a_non_notifier_is_an_error(plugin_manager) -> None:
    plugin_manager.register(plugin_registering(dict), name="bad")
    with pytest.raises(PluginError, match="not a Notifier"):
        notifier_types()
