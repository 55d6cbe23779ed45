"""The code's shape, read with ``ast`` (nothing is imported or run).

Modules under 300 lines and functions under 60 (the handbook's sizes), no import cycle
among ``services/`` and ``shared/`` modules (imports inside functions included: a cycle
hidden in a function is still one), one definition of the message status, and
composition roots that start no task of their own (``shared.supervised`` does).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
STATUS_NAMES = {"success", "pending", "fail", "sending", "canceled"}
STATUS_HOME = "shared/status.py"
# A status written as a number in SQL: `d.status = 2`, `status IN (1, 3)`, `status <> 0`.
SQL_STATUS_LITERAL = re.compile(r"\bstatus\s*(?:=|<>|!=|IN\s*\()\s*\d", re.IGNORECASE)


def python_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for top in ("services", "shared") for p in (root / top).rglob("*.py"))


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def long_modules(root: Path = ROOT) -> list[str]:
    found = []
    for path in python_files(root):
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(root)}: {lines} lines")
    return found


def long_functions(root: Path = ROOT) -> list[str]:
    found = []
    for path in python_files(root):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    return found


def _imported(node: ast.Import | ast.ImportFrom, here: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement may load: ``from a import b`` may be the
    module ``a.b`` or a name in ``a``; the caller keeps those that are our modules."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:  # relative: from the package of this module, up level - 1
        package = here.split(".") if is_package else here.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        yield f"{base}.{alias.name}"
    yield base


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> our modules it imports, wherever the import statement stands."""
    files = {module_name(p, root): p for p in python_files(root)}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = [t for t in _imported(node, name, is_package) if t in files]
            if isinstance(node, ast.ImportFrom) and len(targets) > 1:
                # `from pkg import mod`: the module itself, not (also) its package.
                targets = [t for t in targets if t != targets[-1]] or targets
            graph[name].update(t for t in targets if t != name)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def _int_constant(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _status_assignments(node: ast.AST) -> Iterator[str]:
    """Names of the status vocabulary bound to an int literal: ``FAIL = 2``,
    ``SUCCESS, FAIL = 0, 2``, or an enum member ``fail = 2``."""
    if isinstance(node, ast.Assign):
        pairs: list[tuple[ast.expr, ast.expr | None]] = []
        for target in node.targets:
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs += list(zip(target.elts, node.value.elts, strict=False))
            else:
                pairs.append((target, node.value))
    elif isinstance(node, ast.AnnAssign):
        pairs = [(node.target, node.value)]
    else:
        return
    for target, value in pairs:
        if isinstance(target, ast.Name) and target.id.lower() in STATUS_NAMES and _int_constant(value):
            yield target.id


def status_definitions(root: Path = ROOT) -> list[str]:
    """Scopes (a module, a class) binding two or more status names to int literals; one
    name alone is something else (``DnsPolicy.pending``, a count of lookups)."""
    found = []
    for path in python_files(root):
        tree = _tree(path)
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
            names = [name for stmt in scope.body for name in _status_assignments(stmt)]
            if len({n.lower() for n in names}) > 1:
                where = "" if isinstance(scope, ast.Module) else f".{scope.name}"
                found.append(f"{path.relative_to(root)}{where}: {', '.join(names)}")
    return found


def sql_status_literals(root: Path = ROOT) -> list[str]:
    found = []
    for path in python_files(root):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if match := SQL_STATUS_LITERAL.search(node.value):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {match.group()}")
    return found


def tasks_started_by_roots(root: Path = ROOT) -> list[str]:
    roots = [*root.glob("services/*/main.py"), *root.glob("services/*/__main__.py")]
    roots.append(root / "services/dispatcher/supervisor.py")
    found = []
    for path in sorted(roots):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in {"create_task", "ensure_future"}:
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_module_over_300_lines():
    assert long_modules() == []


def test_no_function_over_60_lines():
    assert long_functions() == []


def test_no_import_cycle_among_services_and_shared_modules():
    assert import_cycles(import_graph()) == []


def test_the_message_status_is_defined_once_in_shared():
    assert status_definitions() == [f"{STATUS_HOME}.MessageStatus: SUCCESS, PENDING, FAIL, SENDING, CANCELED"]


def test_sql_names_statuses_through_the_enum():
    assert sql_status_literals() == []


def test_composition_roots_leave_background_tasks_to_shared_supervised():
    assert tasks_started_by_roots() == []


# The checks themselves, on small trees written for them.


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    root = _write(
        tmp_path,
        {
            "services/__init__.py": "",
            "services/svc/__init__.py": "",
            "services/svc/main.py": "def main():\n    from services.svc.supervisor import run\n",
            "services/svc/supervisor.py": "def run():\n    from services.svc import main\n",
            "services/svc/plain.py": "from services.svc.main import main\n",
            "shared/__init__.py": "",
        },
    )
    assert import_cycles(import_graph(root)) == [["services.svc.main", "services.svc.supervisor"]]


def test_a_relative_import_and_a_package_import_are_edges_too(tmp_path):
    root = _write(
        tmp_path,
        {
            "services/__init__.py": "",
            "services/svc/__init__.py": "from . import a\n",
            "services/svc/a.py": "import services.svc.b\n",
            "services/svc/b.py": "from .a import thing\n",
            "shared/__init__.py": "",
        },
    )
    graph = import_graph(root)
    assert graph["services.svc"] == {"services.svc.a"}
    assert graph["services.svc.b"] == {"services.svc.a"}
    assert import_cycles(graph) == [["services.svc.a", "services.svc.b"]]


def test_status_literals_anywhere_but_shared_status_are_found(tmp_path):
    root = _write(
        tmp_path,
        {
            "shared/policy.py": "class Policy:\n    pending: int = 256\n",
            "services/a.py": "SUCCESS, PENDING, FAIL, SENDING = 0, 1, 2, 3\n",
            "services/b.py": "class MessageStatus:\n    success = 0\n    fail: int = 2\n",
            "services/c.py": "from shared.status import MessageStatus\nFAIL = MessageStatus.FAIL\n"
            'Q = "UPDATE d SET response_status_code = 200, status = 2"\n'
            'OK = f"WHERE status = {MessageStatus.SUCCESS:d}"\n',
            "services/d.py": 'Q = """\nSELECT 1 WHERE d.status IN (1, 3)"""\n',
        },
    )
    assert status_definitions(root) == [
        "services/a.py: SUCCESS, PENDING, FAIL, SENDING",
        "services/b.py.MessageStatus: success, fail",
    ]
    assert sql_status_literals(root) == ["services/c.py:3 status = 2", "services/d.py:1 status IN (1"]


def test_long_functions_and_modules_are_found(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    root = _write(tmp_path, {"shared/long.py": f"def f():\n{body}\n" + "\n" * 240})
    assert long_functions(root) == ["shared/long.py:1 f: 61 lines"]
    assert long_modules(root) == ["shared/long.py: 301 lines"]
