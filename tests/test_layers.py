"""The package's layers, as the README's Layout section states them: every import (function-level and
``TYPE_CHECKING`` ones included) goes to the module's own layer or below, and no modules import each
other in a circle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "medtrain"

# Lowest first. A module belongs to the entry that names it or its nearest parent package; the bare "medtrain"
# names the package's own __init__ only, so a new top-level module must be given a layer here.
LAYERS = [
    ["medtrain.errors", "medtrain._io", "medtrain._yaml", "medtrain._lock", "medtrain._progress", "medtrain.metrics", "medtrain.operating_point", "medtrain.intervals", "medtrain._auc_interval", "medtrain.significance",
     "medtrain.tasks"],
    ["medtrain.data", "medtrain.color", "medtrain.models", "medtrain.reports"],
    ["medtrain.config", "medtrain.augment"],
    ["medtrain.training", "medtrain.evaluation", "medtrain.rundir", "medtrain.runlock", "medtrain.runmodel", "medtrain.runscores", "medtrain.provenance", "medtrain._predictions_csv", "medtrain._run_report", "medtrain._external_report",
     "medtrain._out_checks"],
    ["medtrain.api", "medtrain._train_inputs", "medtrain.reuse", "medtrain.predictor", "medtrain.predict_inputs", "medtrain._predict_squash", "medtrain"],  # the package's own __init__ is the Python facade over api
    ["medtrain.compare", "medtrain._compare_grid", "medtrain.crossval", "medtrain._crossval_labels", "medtrain._crossval_op", "medtrain._crossval_pairs", "medtrain._crossval_choices", "medtrain.transfer", "medtrain.policy_search", "medtrain.tune", "medtrain.predict",
     "medtrain.export", "medtrain._export_inputs", "medtrain.explain", "medtrain.external", "medtrain.versus"],
    ["medtrain.cli", "medtrain.__main__"],
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for n in names:
            covers = module == n or (n != "medtrain" and module.startswith(n + "."))
            if covers and (best is None or len(n) > len(best[1])):
                best = (i, n)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to the README's Layout section")
    return best[0]


def imports_of(module: str) -> set[str]:
    """Every medtrain module ``module`` imports, wherever the import statement stands."""
    tree = ast.parse(MODULES[module].read_text())
    is_pkg = MODULES[module].name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # "medtrain.models.zoo.FAMILIES" -> "medtrain.models.zoo"
                t = t.rpartition(".")[0]
            if t.startswith("medtrain") and t != module:
                out.add(t)
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


def test_a_module_no_entry_names_has_no_layer():
    # the package facade's entry does not swallow new top-level modules, nor does a package its siblings
    for m in ("medtrain.not_listed", "medtrain.datasets", "medtrain.training_extra"):
        with pytest.raises(AssertionError, match="in no layer"):
            layer_of(m)
    assert layer_of("medtrain") == layer_of("medtrain.api")
    assert layer_of("medtrain.data.folder") == layer_of("medtrain.data")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_upward(module):
    up = sorted(t for t in GRAPH[module] if layer_of(t) > layer_of(module))
    assert not up, f"{module} (layer {layer_of(module)}) imports higher layers: {up}"


def test_no_import_circles():
    # Tarjan's strongly connected components: any component of more than one module is a circle.
    index, low, stack, on, circles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


# Private modules whose names other packages read through their package's public names (94a4ca0: medtrain.data's
# __all__ gives FOLD, ORIGIN_KEY, OWN, origin_fractions, origin_parts): only their own package imports them.
PRIVATE_TO_PACKAGE = {"medtrain.data._origin": "medtrain.data"}


def outside_importers(private: str, package: str) -> list[str]:
    """The modules outside ``package`` that import ``private`` (function-level imports included)."""
    return sorted(m for m, targets in GRAPH.items()
                  if private in targets and m != package and not m.startswith(package + "."))


@pytest.mark.parametrize("private", sorted(PRIVATE_TO_PACKAGE))
def test_private_module_is_imported_only_in_its_package(private):
    package = PRIVATE_TO_PACKAGE[private]
    assert private in MODULES and private in GRAPH[package]  # it exists, and the checker sees its package use it
    assert not outside_importers(private, package), (
        f"{outside_importers(private, package)} import {private}: import its names from {package}")


def test_the_checker_sees_function_level_imports():
    # The rule counts imports inside functions: the checker must find one, e.g. compare's use of the api.
    assert "medtrain.api" in GRAPH["medtrain.compare"]
    assert "medtrain.models.weights" in GRAPH["medtrain.models.pretrained"]  # imported inside load_source


def test_checking_a_config_does_not_import_lightning(tmp_path):
    import subprocess
    import sys

    code = ("import sys, medtrain.config as c; c.resolve(c.load_yaml(sys.argv[1])); "
            "print('lightning' in sys.modules)")
    cfg = tmp_path / "cfg.yaml"  # not beside the tests: two concurrent runs had left one in the checkout
    cfg.write_text("dataset: breastmnist\nepochs: 3\ntransfer: scratch\n")
    out = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
