"""Sphinx extension: the state diagram, drawn at build time from the code's transition table.

``flowhook-state-diagram`` writes Graphviz DOT from :data:`flowhook_hookspec.states.LEGAL_TRANSITIONS`
(and the named states of :mod:`flowhook_hookspec.states`), and hands it to ``sphinx.ext.graphviz``,
which renders it to SVG. Nothing in the picture is typed by hand, so it cannot drift from the
engine. It takes the options of the ``graphviz`` directive (``caption``, ``align``, ``alt``...).

The DOT text is also available without Sphinx, for tests: :func:`state_diagram_dot`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.ext.graphviz import Graphviz

from flowhook_hookspec import states
from flowhook_hookspec.states import (
    FINAL_TYPES,
    LEGAL_TRANSITIONS,
    State,
    StateType,
    is_legal_transition,
)

#: The program that renders DOT: the ``graphviz-pure`` wheel's self-contained ``dot``.
DOT_PROGRAM = "graphviz-pure"


def find_dot() -> str:
    """The path of a Graphviz ``dot``: ``graphviz-pure`` beside this Python (a virtual
    environment's ``bin``), else on ``PATH``, else a system ``dot``.

    When none is found the program name is returned, and the build fails with Sphinx's message
    naming it: install the test extra (``pip install -e '.[test]'``).
    """
    beside_python = Path(sys.executable).parent / DOT_PROGRAM
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(DOT_PROGRAM) or shutil.which("dot") or DOT_PROGRAM


def named_states() -> dict[StateType, list[str]]:
    """The names of the states that :mod:`flowhook_hookspec.states` constructs, by type."""
    by_type: dict[StateType, list[str]] = {state_type: [] for state_type in StateType}
    public = set(states.__all__)
    for name, constructor in vars(states).items():  # in the order the module defines them
        if name not in public or not name[:1].isupper() or isinstance(constructor, type):
            continue
        if not callable(constructor):
            continue
        made = constructor()
        if isinstance(made, State):
            by_type[made.type].append(made.name)
    return by_type


def transitions() -> list[tuple[StateType, StateType]]:
    """Every legal transition between state types, in the enum's order."""
    return [
        (old, new)
        for old in StateType
        for new in StateType
        if new in LEGAL_TRANSITIONS.get(old, frozenset())
    ]


def _node_id(state_type: StateType) -> str:
    return state_type.value.lower()


def state_diagram_dot() -> str:
    """The state diagram as Graphviz DOT.

    One box per state type, listing the named states of that type; final types are drawn with a
    double border. Transitions into CRASHED are dashed: a process can die in any state, so they
    are not part of a run's normal path.
    """
    names = named_states()
    lines = [
        "digraph states {",
        '  rankdir="LR";',
        '  bgcolor="white";  pad=0.2;',  # readable on the theme's dark background too
        '  node [shape="box", style="rounded,filled", fillcolor="#f4f6fa", color="#4a5a78",'
        ' fontname="Helvetica", fontsize=11];',
        '  edge [color="#4a5a78", arrowsize=0.7];',
        '  start [shape="point", width=0.15, style="filled", fillcolor="#4a5a78", label=""];',
    ]
    for state_type in StateType:
        label = state_type.value
        if names[state_type]:
            label += "\\n" + ", ".join(names[state_type])
        extra = ', peripheries=2, fillcolor="#e8f0e8"' if state_type in FINAL_TYPES else ""
        lines.append(f'  {_node_id(state_type)} [label="{label}"{extra}];')
    for state_type in StateType:
        if is_legal_transition(None, state_type):
            lines.append(f"  start -> {_node_id(state_type)};")
    for old, new in transitions():
        style = ' [style="dashed", color="#a05050"]' if new is StateType.CRASHED else ""
        lines.append(f"  {_node_id(old)} -> {_node_id(new)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def state_diagram_alt() -> str:
    """A text equivalent of the diagram, for the image's ``alt``."""
    parts = [f"{old.value} to {new.value}" for old, new in transitions()]
    return "State diagram of flowhook runs. Legal transitions: " + "; ".join(parts) + "."


class StateDiagram(Graphviz):
    """``flowhook-state-diagram``: the ``graphviz`` directive with generated content."""

    has_content = False
    optional_arguments = 0

    def run(self) -> list[Any]:
        self.content = StringList(state_diagram_dot().splitlines(), source="flowhook_diagrams")
        self.arguments = []
        self.options.setdefault("alt", state_diagram_alt())
        # Rebuild the page when the transition table changes.
        self.env.note_dependency(states.__file__)
        return super().run()


def _use_graphviz_pure(app: Sphinx, config: Config) -> None:
    """Point ``graphviz_dot`` at :func:`find_dot`, unless ``conf.py`` set it."""
    if config.graphviz_dot == "dot":
        config.graphviz_dot = find_dot()


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.graphviz")
    app.add_directive("flowhook-state-diagram", StateDiagram)
    app.connect("config-inited", _use_graphviz_pure)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
