"""No test reads the clock when it is collected: a time in a parametrize list, a module-level constant or a default
argument is computed once, at import, and is minutes old by the time a loaded machine runs the test.

``test_an_invalid_subscription_is_refused_with_400`` failed so: "10,090 minutes from now", computed at collection,
was less than 10,080 minutes ahead when the suite reached it more than ten minutes later.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: Calls that read the clock: ``timezone.now()``, ``datetime.now(UTC)``, ``date.today()``, ``time.time()``...
CLOCK_CALLS = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "localdate", "localtime"}


def _clock_calls(node: ast.AST) -> list[ast.Call]:
    """Clock calls evaluated when ``node`` is, i.e. not inside a lambda or a nested function (those run later)."""
    found, pending = [], [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef) and current is not node:
            continue
        if isinstance(current, ast.Call):
            func = current.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in CLOCK_CALLS:
                found.append(current)
        pending.extend(ast.iter_child_nodes(current))
    return found


def _evaluated_at_import(tree: ast.Module) -> list[ast.AST]:
    """What runs when a test module is imported: module and class bodies, decorators, default arguments."""
    nodes: list[ast.AST] = []
    bodies = [tree.body]
    while bodies:
        for statement in bodies.pop():
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                nodes.extend(statement.decorator_list)
                nodes.extend(statement.args.defaults)
                nodes.extend(default for default in statement.args.kw_defaults if default is not None)
            elif isinstance(statement, ast.ClassDef):
                nodes.extend(statement.decorator_list)
                bodies.append(statement.body)
            elif not isinstance(statement, ast.Import | ast.ImportFrom):
                nodes.append(statement)
    return nodes


def clock_reads_at_collection(source: str) -> list[int]:
    """Line numbers of clock reads that happen when ``source`` is imported."""
    return sorted(call.lineno for node in _evaluated_at_import(ast.parse(source)) for call in _clock_calls(node))


def test_the_finder_sees_a_time_in_a_parametrize_list_a_constant_and_a_default_but_not_a_deferred_one():
    source = (
        "import pytest\n"
        "from django.utils import timezone\n"
        "LATER = timezone.now()\n"
        "NOW_MS = lambda: time.time()\n"
        "@pytest.mark.parametrize('when', [timezone.now()])\n"
        "def test_it(when, moment=datetime.now(UTC)):\n"
        "    assert timezone.now()\n"
        "class TestIt:\n"
        "    START = date.today()\n"
    )

    assert clock_reads_at_collection(source) == [3, 5, 6, 9]


def test_no_test_module_reads_the_clock_when_it_is_collected():
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in clock_reads_at_collection(path.read_text())
    ]

    assert found == [], "compute these times when the test runs, not when it is collected"
