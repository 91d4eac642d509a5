"""The library's layers point one way: dashboard -> training -> store -> data -> models, with the
shared foundation (config, presets, errors, device, files, distributed) under them all.
Nothing below the dashboard imports streamlit, plotly or the run manager."""

from __future__ import annotations

import ast

from conftest import REPO

LAYERS = ["models", "data", "store", "training", "dashboard", "cli"]  # each may import only those before it
FOUNDATION = {"config", "settings", "presets", "errors", "device", "files", "distributed", "background"}


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


def module_graph() -> dict[str, set[str]]:
    """vqvae's modules -> the vqvae modules each imports, at the top or inside a function
    (a lazy import hides a cycle from Python, not from the design)."""
    root = REPO / "vqvae"
    names = {".".join(("vqvae", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
             for p in root.rglob("*.py")}
    graph = {}
    for name, path in names.items():
        edges = set()
        for module in imported_modules(path):
            if module in names:
                edges.add(module)
        # "from vqvae.store import layout" names the module vqvae.store.layout, not the package
        edges = {m for m in edges if not any(other.startswith(m + ".") and other in edges for other in edges)}
        graph[name] = edges - {name}
    return graph


def test_no_import_cycles_lazy_imports_included():
    graph = module_graph()
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt == "vqvae":  # the package's own __init__ re-exports; a module importing it is caught below
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_no_library_module_imports_the_package_init():
    """`from vqvae import VQVAE` inside the library would make every module depend on all."""
    offenders = [name for name, edges in module_graph().items() if "vqvae" in edges and name not in ("vqvae", "vqvae.__main__")]
    assert not offenders, offenders


MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 60  # past these a module or a function usually holds two concepts


def test_no_module_or_function_outgrows_one_concept():
    problems = []
    for path in sorted([*(REPO / "vqvae").rglob("*.py"), *(REPO / "pages").rglob("*.py")]):
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines")
    assert not problems, "\n".join(problems)
