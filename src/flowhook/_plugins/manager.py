"""The plugin manager: discovery through entry points, validation, listing, isolated dispatch.

pluggy keeps the registry and validates implementations against the specs. Dispatch is ours:
pluggy stops at the first implementation that raises, and a broken plugin must never break a
run, so each implementation is called on its own (see :mod:`.isolation`), and only through the
typed methods of :class:`~.hooks.PluginHooks` (:attr:`PluginManager.hooks`).
The callers of each hook, and the set of hooks implemented at all, are computed once and cached
until a plugin is (un)registered, so a hook that nobody implements costs one lookup; so does one
whose implementations say they are idle (see :mod:`.gates`), and one call of their test.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from flowhook_hookspec.errors import PluginError
from flowhook_hookspec.specs import ALL_SPECS, PROJECT_NAME, hook_names

from .gates import Gate, broken, check_active, gate_of, test_of
from .hooks import PluginHooks
from .isolation import call_isolated
from .nonblocking import check_nonblocking, hooks_that_may_block
from .records import HookCaller, PluginInfo
from .selection import Selection, close_match

if TYPE_CHECKING:
    import importlib.metadata

logger = logging.getLogger("flowhook.plugins")

__all__ = [
    "PluginInfo",
    "PluginManager",
    "blocking_hooks",
    "implemented_hooks",
    "list_plugins",
    "plugin_hooks",
    "plugin_manager",
    "register_plugin",
    "set_plugin_manager",
    "unregister_plugin",
]


class PluginManager:
    """flowhook's wrapper around ``pluggy.PluginManager``."""

    def __init__(self, *, load_entrypoints: bool = True) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        for specs in ALL_SPECS:
            self._pm.add_hookspecs(specs)
        self._spec_names = frozenset(hook_names())
        self._lock = threading.RLock()
        self._callers: dict[str, tuple[HookCaller, ...]] = {}
        self._implemented: frozenset[str] | None = None
        self._gate: Gate | None = None
        self._may_block: frozenset[str] | None = None
        #: What :func:`implemented_hooks` returns, while no implementation has a test to ask (no
        #: gate); else None. The engine reads it on every transition, without a call.
        self.ready: frozenset[str] | None = None
        self._broken_tests: list[Callable[[], object]] = []  # tests that raised: ignored
        self._infos: dict[str, PluginInfo] = {}
        self._entrypoints_pending = load_entrypoints
        #: The typed caller of this manager's hooks: the only way flowhook calls a hook.
        self.hooks = PluginHooks(self)

    # -- discovery -------------------------------------------------------------------------

    def load_entrypoints(self) -> None:
        """Load every plugin of the ``flowhook`` entry-point group, once, one at a time."""
        with self._lock:
            if not self._entrypoints_pending:
                return
            self._entrypoints_pending = False
            import importlib.metadata  # slow to import: only when plugins are first needed

            entry_points = list(importlib.metadata.entry_points(group=PROJECT_NAME))
            selection = Selection.from_environment()
            selection.warn_unknown({entry_point.name for entry_point in entry_points})
            for entry_point in entry_points:
                if entry_point.name in self._infos:
                    continue  # the same distribution seen twice (editable installs, symlinked venvs)
                dist = entry_point.dist
                info = PluginInfo(
                    name=entry_point.name,
                    version=dist.version if dist else None,
                    distribution=dist.name if dist else None,
                )
                refusal = selection.refusal(entry_point.name)
                if refusal is not None:
                    self._pm.set_blocked(entry_point.name)
                    self._infos[info.name] = attrs.evolve(info, status="disabled", error=refusal)
                    continue
                self._load_one(entry_point, info)

    def _load_one(self, entry_point: importlib.metadata.EntryPoint, info: PluginInfo) -> None:
        try:
            plugin = entry_point.load()
            if inspect.isclass(plugin):
                plugin = plugin()
        except (Exception, SystemExit) as exc:  # a plugin never ends the process, even at import
            error = (
                f"could not import {entry_point.value!r}: {type(exc).__name__}: {exc}. "
                f"Reinstall or upgrade {info.distribution or 'the plugin'}, or disable it with "
                f"FLOWHOOK_DISABLE_PLUGINS={entry_point.name}"
            )
            logger.warning("plugin %r failed to load: %s", entry_point.name, error)
            self._infos[info.name] = attrs.evolve(info, status="failed", error=error)
            return
        try:
            self._register(plugin, info)
        except PluginError as exc:
            logger.warning("plugin %r was rejected: %s", entry_point.name, exc)
            self._infos[info.name] = attrs.evolve(info, status="rejected", error=str(exc))

    # -- registration ----------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` (a module, a class or an instance); returns its name.

        The installed plugins are loaded first, so that the outcome never depends on whether a
        flow has run yet: registering a module (or an instance) that is already registered, by
        its entry point or by hand, does nothing and returns the name it has. Raises
        :class:`~flowhook_hookspec.errors.PluginError` when its hooks do not match the contract,
        or another plugin has the name.
        """
        with self._lock:
            self.load_entrypoints()
            if inspect.isclass(plugin):
                plugin = plugin()
            elif self._pm.is_registered(plugin):
                return str(self._pm.get_name(plugin))
            name = name or self._pm.get_canonical_name(plugin)
            version = getattr(plugin, "__version__", None)
            info = PluginInfo(name=name, version=version if isinstance(version, str) else None)
            return self._register(plugin, info)

    def _register(self, plugin: object, info: PluginInfo) -> str:
        if self._pm.is_blocked(info.name):
            raise PluginError(
                f"the name {info.name!r} belongs to an installed plugin that is not loaded "
                f"({self._infos[info.name].error}); register this one under another name"
            )
        if self._pm.has_plugin(info.name) or self._pm.is_registered(plugin):
            raise PluginError(
                f"a plugin named {info.name!r} is already registered; unregister it first or "
                "register this one under another name"
            )
        try:
            self._pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {info.name!r} does not match the hook contract: {exc}"
            ) from None
        try:
            hooks = self._check_hooks(plugin, info.name)
        except PluginError:
            self._pm.unregister(plugin)
            raise
        self._infos[info.name] = attrs.evolve(info, hooks=hooks)
        self._forget_callers()
        return info.name

    def _check_hooks(self, plugin: object, name: str) -> tuple[str, ...]:
        hooks = []
        for caller in self._pm.get_hookcallers(plugin) or []:
            if caller.name not in self._spec_names:
                hint = close_match(caller.name, self._spec_names)
                raise PluginError(f"plugin {name!r} implements unknown hook {caller.name!r}{hint}")
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if impl.wrapper or impl.hookwrapper:
                    raise PluginError(
                        f"plugin {name!r} declares {caller.name!r} as a hook wrapper; flowhook hooks "
                        "are observers: drop wrapper=True/hookwrapper=True"
                    )
                check_active(impl.function, name, caller.name)
                check_nonblocking(impl.function, name, caller.name)
            hooks.append(caller.name)
        return tuple(sorted(hooks))

    def unregister(self, name: str) -> None:
        """Unregister the plugin registered as ``name``; ``KeyError`` if there is none."""
        with self._lock:
            if self._pm.get_plugin(name) is None:
                raise KeyError(f"no plugin named {name!r} is registered")
            self._pm.unregister(name=name)
            self._infos.pop(name, None)
            self._forget_callers()

    def _forget_callers(self) -> None:
        """Drop the caches of dispatch: the set of plugins changed (the lock is held)."""
        self.ready = None
        self._callers = {}
        self._implemented = None
        self._gate = None
        self._may_block = None

    def list(self) -> list[PluginInfo]:
        """Every plugin seen, registered or not, sorted by name."""
        self.load_entrypoints()
        with self._lock:
            return sorted(self._infos.values(), key=lambda info: info.name)

    # -- dispatch --------------------------------------------------------------------------

    def callers(self, hook: str) -> tuple[HookCaller, ...]:
        """The implementations of ``hook``, in pluggy's call order."""
        found = self._callers.get(hook)
        if found is None:
            found = self._build_callers(hook)
        return found

    def _build_callers(self, hook: str) -> tuple[HookCaller, ...]:
        self.load_entrypoints()
        with self._lock:
            impls = getattr(self._pm.hook, hook).get_hookimpls()
            found = tuple(
                HookCaller(
                    impl.function,
                    tuple(impl.argnames),
                    impl.plugin_name,
                    hook,
                    f"plugin {impl.plugin_name!r} hook {hook!r}",
                    test_of(impl.function, self._broken_tests),
                )
                for impl in reversed(impls)  # pluggy calls the last registered first
            )
            callers = dict(self._callers)
            callers[hook] = found
            self._callers = callers
            return found

    def implemented(self) -> frozenset[str]:
        """The names of the hooks that at least one registered plugin implements.

        The engine asks, through :func:`implemented_hooks`, on every transition, to skip
        dispatch when no plugin listens.
        """
        found = self._implemented
        if found is None:
            found = self._build_implemented()
        return found

    def _build_implemented(self) -> frozenset[str]:
        self.load_entrypoints()
        with self._lock:
            found, self._gate = gate_of(self._implementations(), self._broken_tests)
            self._implemented = found  # after its gate: whoever sees the one sees the other
            self.ready = found if self._gate is None else None
            return found

    def may_block(self) -> frozenset[str]:
        """The hooks that at least one implementation may block in (it does not carry
        ``flowhook_nonblocking = True``, see :mod:`.nonblocking`)."""
        found = self._may_block
        if found is None:
            self.load_entrypoints()
            with self._lock:
                found = self._may_block = hooks_that_may_block(self._implementations())
        return found

    def _implementations(self) -> Iterator[tuple[str, Any]]:
        """(hook name, implementing function) of every implementation (the lock is held)."""
        for name, caller in vars(self._pm.hook).items():
            for impl in caller.get_hookimpls():
                yield name, impl.function

    def _tests_failed(self, tests: tuple[Callable[[], object], ...]) -> None:
        """One of ``tests`` raised: those that raise again are logged and ignored from now on
        (their implementations are called), and the caches of dispatch made again."""
        with self._lock:
            found = broken(tests)
            if found:
                self._broken_tests.extend(found)
                self._forget_callers()

    def dispatch(self, hook: str, arguments: Mapping[str, Any]) -> BaseException | None:
        """Call every implementation of ``hook`` that is not idle (see :mod:`.gates`), each in
        isolation (for :class:`~.hooks.PluginHooks`).

        Returns the first exception the caller must re-raise (KeyboardInterrupt, or any error,
        SystemExit included, under ``FLOWHOOK_STRICT_HOOKS``), after all implementations have
        run. A plugin's SystemExit is an error like any other: a plugin never ends the process.
        """
        pending: BaseException | None = None
        for caller in self.callers(hook):
            active = caller.active
            if active is not None:  # its test, asked here, not in a method: no frame more
                try:
                    if not active():
                        continue
                except Exception:
                    self._tests_failed((active,))
            error = call_isolated(
                caller.function,
                [arguments[name] for name in caller.argnames],
                caller.label,
                exit_is_error=True,
            )
            if pending is None:
                pending = error
        return pending


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def plugin_manager() -> PluginManager:
    """The process-wide plugin manager. Entry points load on first dispatch or listing."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = PluginManager()
    return _manager


def plugin_hooks() -> PluginHooks:
    """The typed hook caller of the process-wide manager (see :class:`~.hooks.PluginHooks`)."""
    return (_manager or plugin_manager()).hooks


def implemented_hooks() -> frozenset[str]:
    """The hooks that a plugin of the process-wide manager implements and may have work for
    now: :meth:`PluginManager.implemented`, less the hooks whose every implementation says it
    is idle (see :mod:`.gates`).

    The engine asks on every transition: once cached, the answer takes no lock, and costs one
    call of each distinct test when some implementation is gated.
    """
    manager = _manager or plugin_manager()
    found = manager._implemented  # PluginManager.implemented(), one call fewer (three per task run)
    if found is None:
        found = manager._build_implemented()
    gate = manager._gate
    if gate is None:
        return found
    try:
        return gate.sets.get(gate.outcome(), found)
    except Exception:
        manager._tests_failed(gate.tests)
        return found


def blocking_hooks() -> frozenset[str]:
    """The hooks of :func:`implemented_hooks` that an implementation may block in: those an
    async run calls in a worker thread, off its event loop (see :mod:`.nonblocking`)."""
    return implemented_hooks() & (_manager or plugin_manager()).may_block()


def set_plugin_manager(manager: PluginManager | None) -> PluginManager | None:
    """Replace the process-wide manager (tests use a fresh one); returns the previous one."""
    global _manager
    previous, _manager = _manager, manager
    return previous


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin in this process (no entry point needed); returns the name it got."""
    return plugin_manager().register(plugin, name)


def unregister_plugin(name: str) -> None:
    """Unregister the plugin registered under ``name``."""
    plugin_manager().unregister(name)


def list_plugins() -> list[PluginInfo]:
    """Every plugin flowhook knows of: name, version, distribution, hooks, status and error."""
    return plugin_manager().list()
