"""Sphinx configuration of the flowhook documentation (MyST Markdown).

Build it with ``make docs``; ``make test`` builds it too, with warnings as errors.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

# Local extensions: docs/_ext/flowhook_diagrams.py draws the state diagram.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "flowhook"
author = "the flowhook authors"
copyright = "the flowhook authors"
release = version = importlib.metadata.version("flowhook")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx_click",
    "flowhook_diagrams",
]

source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# MyST: `{role}` syntax, ::: fences, definition lists, and anchors for headings down to ###
# so that pages can link to `page.md#a-heading`.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The hookspec reference is generated from the hookspec docstrings. Signatures show names only
# (`on_flow_run_failure(flow, flow_run, state)`), the exact form an implementation uses; the
# types go to the description.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"

# The state diagram: Graphviz DOT rendered to SVG at build time. flowhook_diagrams points
# `graphviz_dot` at the self-contained `dot` of the `graphviz-pure` wheel (a test dependency),
# so no system Graphviz is needed.
graphviz_output_format = "svg"

html_theme = "furo"
html_title = f"flowhook {release}"
html_static_path: list[str] = []
