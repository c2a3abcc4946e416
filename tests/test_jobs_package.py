"""The jobs package: its import graph (no cycle, runners independent), light readers,
and the deprecated modules ``tf_tsexplain.batch`` and ``tf_tsexplain.beam``."""

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import tf_tsexplain

PACKAGE = Path(tf_tsexplain.__file__).parent
RUNNERS = {"tf_tsexplain.jobs.local", "tf_tsexplain.jobs.beam", "tf_tsexplain.jobs.spark"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its code (also inside
    functions: a lazy import still closes a cycle once it runs)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                # "from pkg import mod" imports the module pkg.mod
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def _cycle(graph) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_import_graph_has_no_cycle_and_runners_are_independent():
    graph = _import_graph()
    assert {"tf_tsexplain.jobs.layout", "tf_tsexplain.jobs.local"} <= set(graph)
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
    for runner in RUNNERS & set(graph):
        others = {r for r in RUNNERS if r != runner}
        reach, todo = set(), [runner]
        while todo:  # everything the runner imports, directly or not
            for nxt in graph[todo.pop()] - reach:
                reach.add(nxt)
                todo.append(nxt)
        assert not reach & others, f"{runner} imports the runner(s) {reach & others}"
    # only the command's glue (and the deprecated re-exports) start runners
    for name, edges in graph.items():
        if name.startswith("tf_tsexplain.jobs.") and name not in RUNNERS | {
            "tf_tsexplain.jobs.cli",
            "tf_tsexplain.jobs.beam_read",
        }:
            assert not edges & RUNNERS, f"{name} imports the runner(s) {edges & RUNNERS}"
    sizes = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / "jobs").rglob("*.py")}
    assert max(sizes.values()) <= 650, sizes


def test_reading_a_job_does_not_load_tensorflow():
    code = (
        "import sys; from tf_tsexplain.jobs.layout import load_attributions, read_attributions;"
        "from tf_tsexplain.jobs import read_instances;"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'pyspark' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    assert done.stdout.split() == ["False", "False", "False"]


def test_spark_runner_is_exported_lazily():
    pytest.importorskip("pyspark", reason="pyspark is not installed")
    jobs = importlib.import_module("tf_tsexplain.jobs")
    spark = importlib.import_module("tf_tsexplain.jobs.spark")
    assert {"run_spark", "explain_dataframe"} <= set(jobs.__all__)
    assert jobs.run_spark is spark.run_spark
    assert jobs.explain_dataframe is spark.explain_dataframe


@pytest.mark.parametrize(
    "old, new, names",
    [
        (
            "tf_tsexplain.batch",
            "tf_tsexplain.jobs",
            ["explain_to_parquet", "load_attributions", "read_attributions", "JobExplainer"],
        ),
        (
            "tf_tsexplain.beam",
            "tf_tsexplain.jobs.beam",
            ["run_pipeline", "ExplainModelHandler", "ExplainToParquet"],
        ),
    ],
)
def test_deprecated_modules_warn_and_export_the_same_names(old, new, names):
    if old.endswith("beam"):
        pytest.importorskip("apache_beam", reason="apache_beam is not installed")
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated.*import from {new}"):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(target, name), name
    for name in module.__all__:  # every name it lists is there, and is the jobs' own
        value = getattr(module, name)
        assert getattr(value, "__module__", "tf_tsexplain.jobs").startswith("tf_tsexplain.jobs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.import_module("tf_tsexplain.jobs.layout")  # the new home does not warn
