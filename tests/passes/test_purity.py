"""`passes/` is a pure library: importing it pulls in neither Flask nor SQLAlchemy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_passes_imports_neither_flask_nor_sqlalchemy() -> None:
    code = (
        "import json, sys; import passes, passes.devpki; "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    assert "passes" in loaded
    assert not loaded & {"flask", "sqlalchemy", "flask_sqlalchemy", "werkzeug", "app"}


def test_no_module_in_passes_names_flask_or_sqlalchemy() -> None:
    for path in (ROOT / "passes").glob("*.py"):
        text = path.read_text()
        for banned in ("import flask", "from flask", "sqlalchemy", "from app"):
            assert banned not in text, f"{path.name} mentions {banned!r}"
