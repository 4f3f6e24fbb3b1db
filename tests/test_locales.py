"""Node texts the frontend shows through vue-i18n: a brace there is read as a placeholder
(frontend 1.35.9 with Vue nodes throws "Invalid token in placeholder" and drops the widget)."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _strings(value, where=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(value, str):
        yield where, value


@pytest.mark.parametrize("path", sorted((ROOT / "locales").glob("*/*.json")), ids=str)
def test_locale_texts_hold_no_braces(path):
    bad = [w for w, s in _strings(json.loads(path.read_text(encoding="utf-8")))
           if "{" in s or "}" in s]
    assert not bad, f"{path}: braces in {bad}"


def test_node_tooltips_and_descriptions_hold_no_braces():
    bad = []
    for path in sorted((ROOT / "nodes").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg in ("tooltip", "description"):
                # Literal text only (f-string placeholders are Python's, not the frontend's).
                parts = [node.value] if isinstance(node.value, ast.Constant) else [
                    v for v in getattr(node.value, "values", []) if isinstance(v, ast.Constant)]
                text = "".join(str(p.value) for p in parts)
                if "{" in text or "}" in text:
                    bad.append(f"{path.name}:{node.lineno}")
    assert not bad, f"braces in tooltips/descriptions: {bad}"
