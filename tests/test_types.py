"""Typing rules mypy does not check by itself (mypy runs in `make test`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEVER = {"NoReturn", "Never", "typing.NoReturn", "typing.Never"}


def _always_raises(body: list[ast.stmt]) -> bool:
    """Whether every way through `body` ends in a raise."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Raise):
        return True
    if isinstance(last, ast.If):
        return _always_raises(last.body) and _always_raises(last.orelse)
    if isinstance(last, ast.With | ast.AsyncWith):
        return _always_raises(last.body)
    if isinstance(last, ast.Try):
        return _always_raises(last.body) and all(
            _always_raises(handler.body) for handler in last.handlers
        )
    return False


def _returns(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the function itself (not a function nested in it) has a return."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return False


def untyped_raisers(source: str) -> list[str]:
    """Functions that always raise but are not annotated NoReturn (or Never)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and _always_raises(node.body)
            and not _returns(node)
            and (node.returns is None or ast.unparse(node.returns) not in NEVER)
        ):
            found.append(f"{node.name}:{node.lineno}")
    return found


def test_helpers_that_always_raise_are_typed_noreturn() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{where}"
        for package in ("app", "passes")
        for path in sorted((ROOT / package).rglob("*.py"))
        for where in untyped_raisers(path.read_text())
    ]
    assert found == []


def test_the_check_tells_raising_helpers_from_others() -> None:
    source = """
def fail(code: str) -> None:
    raise ValueError(code)

def gone(code):
    if code:
        raise KeyError(code)
    else:
        raise ValueError(code)

def typed(code: str) -> NoReturn:
    raise ValueError(code)

def checks(value: int) -> None:
    if value > 0:
        return
    raise ValueError(value)

def factory(code: str) -> ValueError:
    return ValueError(code)

def wraps() -> None:
    def inner() -> int:
        return 1
    raise ValueError(inner())
"""
    assert untyped_raisers(source) == ["fail:2", "gone:5", "wraps:22"]
