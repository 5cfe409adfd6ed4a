"""What the benchmarks share: their databases, certificates and app."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text

import passes
from app import create_app

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "pass.bench.wallet"
TEAM = "BENCHTEAM1"


@contextmanager
def databases(kind: str, work: Path, *names: str) -> Iterator[dict[str, str]]:
    """A URL per name: files under `work` (SQLite), or fresh databases on a
    PostgreSQL server of the benchmark's own, stopped afterwards."""
    if kind == "sqlite":
        yield {name: f"sqlite:///{work / f'{name}.sqlite3'}" for name in names}
        return
    from tests.support.postgres import PostgresServer

    server = PostgresServer().start()
    try:
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f"CREATE DATABASE bench_{name}"))
        admin.dispose()
        yield {name: server.url(f"bench_{name}") for name in names}
    finally:
        server.stop()


def dev_certs(work: Path) -> Path:
    """Development pass certificates under `work`; their folder."""
    certs = work / "certs"
    passes.write_dev_pki(passes.make_dev_pki(TOPIC, TEAM, "Bench"), certs)
    return certs


def bench_app(url: str, certs: Path, **config: Any) -> Flask:
    """The app on `url`, signing with the development certificates."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "PASS_CERT_FILE": str(certs / "pass.pem"),
            "PASS_KEY_FILE": str(certs / "pass.key"),
            "WWDR_CERT_FILE": str(certs / "wwdr.pem"),
            "PASS_TYPE_IDENTIFIER": TOPIC,
            "TEAM_IDENTIFIER": TEAM,
            **config,
        }
    )


def module_at(ref: str, path: str, name: str) -> ModuleType:
    """The Python file `path` as it was at git commit `ref`, imported as module
    `name` (to run old code side by side with the current one). Its scheduled
    jobs are not registered: they would replace today's under the same names."""
    source = subprocess.run(
        ["git", "show", f"{ref}:{path}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    source = source.replace("@scheduled(", "@(lambda name: lambda job: job)(")
    file = Path(tempfile.mkdtemp(prefix="bench-old-")) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
