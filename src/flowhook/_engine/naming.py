"""Run names: from the user's template or callable, else generated."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.lazy import defer_modules

if TYPE_CHECKING:
    import random
else:  # for the first generated run name, not at ``import flowhook``
    defer_modules(globals(), "random")

_ADJECTIVES = (
    "amber",
    "brave",
    "calm",
    "crimson",
    "daring",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "happy",
    "icy",
    "jolly",
    "keen",
    "lively",
    "mellow",
    "nimble",
    "olive",
    "proud",
    "quiet",
    "rapid",
    "silver",
    "sturdy",
    "tidy",
    "urban",
    "vivid",
    "witty",
    "young",
    "zesty",
    "bold",
    "cosmic",
)
_ANIMALS = (
    "badger",
    "beaver",
    "bison",
    "cobra",
    "crane",
    "dingo",
    "eagle",
    "ferret",
    "gecko",
    "heron",
    "ibis",
    "jackal",
    "koala",
    "lemur",
    "lynx",
    "marmot",
    "newt",
    "otter",
    "panda",
    "quail",
    "raven",
    "salmon",
    "tapir",
    "urchin",
    "viper",
    "walrus",
    "yak",
    "zebra",
    "falcon",
    "mole",
)


def generated_name() -> str:
    """A readable random name such as ``crimson-otter``."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}"


def template_fields(template: str) -> set[str]:
    """The top-level field names a ``str.format`` template refers to."""
    import string  # only a run name template needs it

    fields = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field:
            fields.add(field.split(".")[0].split("[")[0])
    return fields


def check_run_name_template(
    template: str | Callable[..., str] | None, option: str, parameters: Mapping[str, Any]
) -> None:
    """Fail at definition time when a template names a parameter the function does not have."""
    if template is None or callable(template):
        return
    if not isinstance(template, str):
        raise TypeError(
            f"{option} takes a format string or a callable, got {type(template).__name__}"
        )
    unknown = template_fields(template) - set(parameters)
    if unknown:
        raise ValueError(
            f"{option} {template!r} refers to {', '.join(sorted(unknown))}, which "
            f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'}; "
            f"the parameters are: {', '.join(parameters) or '(none)'}"
        )


def _takes_argument(fn: Callable[..., Any]) -> bool:
    try:
        return bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False


def render_run_name(
    template: str | Callable[..., str] | None,
    parameters: Mapping[str, Any],
    default: Callable[[], str],
) -> str:
    """The run's name: the template formatted with the parameters, the callable's result, or a default.

    A callable that takes no argument is called with none; otherwise it gets the parameters dict.
    """
    if template is None:
        return default()
    if callable(template):
        return str(template(parameters) if _takes_argument(template) else template())
    return template.format(**parameters)
