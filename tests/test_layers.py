"""The library's layers point one way: dashboard -> training -> data -> models, with the
shared foundation (config, presets, errors, device, files, distributed) under them all.
Nothing below the dashboard imports streamlit, plotly or the run manager."""

from __future__ import annotations

import ast

from conftest import REPO

LAYERS = ["models", "data", "training", "dashboard"]  # each may import only those before it
FOUNDATION = {"config", "presets", "errors", "device", "files", "distributed"}


def imported_modules(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_each_layer_imports_only_the_layers_below_it():
    problems = []
    for path in sorted((REPO / "vqvae").rglob("*.py")):
        parts = path.relative_to(REPO / "vqvae").parts
        layer = parts[0] if len(parts) > 1 else None  # None: the foundation, __init__ and the CLI
        allowed = set(LAYERS[: LAYERS.index(layer) + 1]) if layer else set(LAYERS)
        if path.stem in FOUNDATION:
            allowed = set()
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in ("streamlit", "plotly") and layer != "dashboard":
                problems.append(f"{path.relative_to(REPO)} imports {module}")
            if top == "vqvae" and len(module.split(".")) > 1:
                package = module.split(".")[1]
                if package in LAYERS and package not in allowed:
                    problems.append(f"{path.relative_to(REPO)} imports {module}")
    assert not problems, "\n".join(problems)
