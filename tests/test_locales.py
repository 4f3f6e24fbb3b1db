"""Node texts the frontend shows through vue-i18n: a brace there is read as a placeholder
(frontend 1.35.9 with Vue nodes throws "Invalid token in placeholder" and drops the widget);
'|' separates plural forms and '@' starts a linked message."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECIAL = "{}|@"


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
def test_locale_texts_hold_no_vue_i18n_syntax(path):
    bad = [w for w, s in _strings(json.loads(path.read_text(encoding="utf-8")))
           if any(c in s for c in SPECIAL)]
    assert not bad, f"{path}: vue-i18n syntax characters in {bad}"


def test_node_tooltips_and_descriptions_hold_no_vue_i18n_syntax():
    bad = []
    for path in sorted((ROOT / "nodes").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg in ("tooltip", "description"):
                # Literal text only (f-string placeholders are Python's, not the frontend's).
                parts = [node.value] if isinstance(node.value, ast.Constant) else [
                    v for v in getattr(node.value, "values", []) if isinstance(v, ast.Constant)]
                text = "".join(str(p.value) for p in parts)
                if any(c in text for c in SPECIAL):
                    bad.append(f"{path.name}:{node.lineno}")
    assert not bad, f"vue-i18n syntax characters in tooltips/descriptions: {bad}"
