"""WSGI entry point: `flask --app wsgi ...` and `gunicorn wsgi:app`."""

import sys
from pathlib import Path

from app import create_app
from app.config import UnsafeSettings


def _command() -> str | None:
    """The `flask` subcommand this process runs, if it is the Flask CLI."""
    program = Path(sys.argv[0])
    if program.name != "flask" and program.parts[-2:] != ("flask", "__main__.py"):
        return None
    args = iter(sys.argv[1:])
    for arg in args:
        if arg in ("--app", "-A", "--env-file", "-e"):
            next(args, None)  # the option's value
        elif not arg.startswith("-"):
            return arg
    return None


try:
    # check-certs reports unsafe production settings rather than refusing them.
    app = create_app(refuse_unsafe=_command() != "check-certs")
except UnsafeSettings as refused:
    print(refused, file=sys.stderr, flush=True)
    # 4 is gunicorn's "App failed to load": its master stops instead of
    # starting workers again and again.
    raise SystemExit(4) from None
