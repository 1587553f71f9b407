"""The README's Python snippets run, in order, and produce the values their comments show.

A statement followed by ``# <python literal>`` must evaluate to that literal (lists compare equal to
numpy arrays element-wise), one followed by ``# raises <Error>`` must raise that crossbook error;
other comments are prose.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import crossbook

README = Path(__file__).resolve().parent.parent / "README.md"


def _comments(source: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {token.start[0]: token.string[1:].strip() for token in tokens if token.type == tokenize.COMMENT}


def _expected(comment: str) -> tuple[bool, Any]:
    """The value a comment shows: a literal, possibly with ``Decimal('...')`` inside."""
    head = comment.split(":", maxsplit=1)[0].strip()
    try:
        tree = ast.parse(head, mode="eval")
    except SyntaxError:
        return False, None
    allowed = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.UnaryOp, ast.USub, ast.Load)
    for node in ast.walk(tree):
        is_decimal_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Decimal"
        if not (isinstance(node, allowed) or is_decimal_call or (isinstance(node, ast.Name) and node.id == "Decimal")):
            return False, None
    return True, eval(compile(tree, "README comment", "eval"), {"Decimal": Decimal})


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, np.ndarray):
        return actual.tolist() == expected
    return bool(actual == expected)


def test_readme_snippets_run_and_match_their_comments() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has Python snippets"
    namespace: dict[str, Any] = {}
    checked = 0
    for block in blocks:
        comments = _comments(block)
        for statement in ast.parse(block).body:
            code = compile(ast.Module([statement], []), "README.md", "exec")
            comment = comments.get(statement.end_lineno or statement.lineno)
            has_value, expected = _expected(comment) if comment else (False, None)
            if comment and comment.startswith("raises "):
                error = getattr(crossbook, comment.split()[1].rstrip(":"))
                with pytest.raises(error):
                    exec(code, namespace)
                checked += 1
            elif isinstance(statement, ast.Expr) and has_value:
                actual = eval(compile(ast.Expression(statement.value), "README.md", "eval"), namespace)
                assert _same(actual, expected), f"README line {ast.unparse(statement)!r}: {actual!r} != {expected!r}"
                checked += 1
            else:
                exec(code, namespace)
    assert checked >= 16, f"only {checked} README values were checked"
