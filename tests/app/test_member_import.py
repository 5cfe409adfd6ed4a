"""Member import (issue 20): CSV as Excel writes it, dry run, idempotent re-runs,
batches that resume after a crash, old card numbers at the till, opening
balances in the ledger, the worker's job for large files, the CLI."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AuditEntry,
    CardAlias,
    LedgerEntry,
    Member,
    MemberImport,
    Pass,
)
from app.services import imports, scheduler
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances, make_key
from tests.conftest import Demo

HEADER = "Телефон;ФИО;E-mail;Дата рождения;Номер карты;Баланс;Уровень;Дата согласия"
ROWS = [
    "+7 912 000-00-01;Анна Смирнова;anna@example.ru;14.03.1990;00012345;150;gold;"
    "01.02.2024",
    "89120000002;Пётр Иванов;;;00012346;0;;2024-02-02",
    "8 (912) 000-00-03;Ольга;olga@Example.RU;1985-07-01;;;Серебро;03.02.2024",
]
BAD = [
    "12345;Плохой телефон;;;;;;01.02.2024",
    "+79120000005;Без согласия;;;;;;",
    "+79120000006;Отрицательный;;;;-5;;01.02.2024",
    "+79120000007;Дата;;31.02.1990;;;;01.02.2024",
    "+79120000008;Уровень;;;;;алмаз;01.02.2024",
    "+79120000009;Почта;not-an-email;;;;;01.02.2024",
    "+79120000001;Анна (дубль);;;;;;01.02.2024",
]


def csv_bytes(lines: list[str], *, bom: bool = True, sep: str = ";") -> bytes:
    text = "\r\n".join([HEADER, *lines]).replace(";", sep) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


@pytest.fixture
def imp_app(app: Flask, tmp_path: Path) -> Flask:
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    return app


@pytest.fixture
def key(imp_app: Flask, demo: Demo) -> str:
    return marketer_key(imp_app, demo.program_id)


def post(client: FlaskClient, key: str, body: bytes, query: str = "") -> dict:
    response = client.post(
        f"/api/v1/members/import{query}",
        data=body,
        headers={**auth(key), "Content-Type": "text/csv"},
    )
    assert response.status_code in (201, 202), response.get_json()
    return response.get_json()


def members_by_phone(app: Flask) -> dict[str, Member]:
    with app.app_context():
        rows = db.session.scalars(select(Member)).all()
        db.session.expunge_all()
        return {m.phone: m for m in rows}


def counts(app: Flask) -> tuple[int, int, int, int]:
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Member, Pass, LedgerEntry, CardAlias)
        )


def test_dry_run_reports_rows_and_changes_nothing(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    client = imp_app.test_client()
    before = counts(imp_app)
    body = post(client, key, csv_bytes(ROWS + BAD), "?dry_run=1")
    assert (body["status"], body["dry_run"]) == ("done", True)
    assert (body["rows_ok"], body["created"]) == (3, 3), body
    assert body["failed"] == len(BAD)
    reasons = {e["line"]: e["reason"] for e in body["errors"]}
    assert reasons == {
        5: "phone: not a valid phone number",
        6: "consent: missing",
        7: "balance: a whole number of points, 0 or more",
        8: "birthday: not a date (YYYY-MM-DD or DD.MM.YYYY)",
        9: "tier: unknown tier",
        10: "email: not an e-mail address",
        # The same phone again: the later row wins, the earlier is reported.
        2: "phone: repeated on line 11",
    }
    assert counts(imp_app) == before


@pytest.mark.parametrize(("sep", "bom"), [(";", True), (",", False)])
def test_import_creates_members_passes_balances_and_aliases(
    imp_app: Flask, key: str, demo: Demo, sep: str, bom: bool
) -> None:
    client = imp_app.test_client()
    body = post(client, key, csv_bytes(ROWS + BAD[:-1], bom=bom, sep=sep))
    assert (body["status"], body["created"], body["failed"]) == ("done", 3, 6)
    found = members_by_phone(imp_app)
    anna = found["+79120000001"]
    assert (anna.name, anna.email, anna.tier, anna.points) == (
        "Анна Смирнова",
        "anna@example.ru",
        "gold",
        150,
    )
    assert str(anna.birthday) == "1990-03-14"
    assert found["+79120000003"].email == "olga@example.ru"
    assert found["+79120000003"].tier == "silver"
    assert found["+79120000002"].tier == "silver"  # the base tier
    with imp_app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(Pass).where(Pass.member_id == anna.id)
        )
        kinds = db.session.execute(
            select(LedgerEntry.kind, LedgerEntry.points).where(
                LedgerEntry.member_id == anna.id
            )
        ).all()
        assert kinds == [("import", 150)]
        assert db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "members.import")
        )
    assert_ledger_matches_balances(imp_app)


def test_same_file_again_changes_nothing_and_a_changed_row_updates(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    client = imp_app.test_client()
    post(client, key, csv_bytes(ROWS))
    before = counts(imp_app)
    with imp_app.app_context():
        tags = dict(db.session.execute(select(Pass.id, Pass.update_tag)).all())
    again = post(client, key, csv_bytes(ROWS))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert counts(imp_app) == before
    with imp_app.app_context():
        assert dict(db.session.execute(select(Pass.id, Pass.update_tag)).all()) == tags

    changed = [ROWS[0].replace(";150;", ";200;").replace("Анна Смирнова", "Анна С.")]
    body = post(client, key, csv_bytes(changed + ROWS[1:]))
    assert (body["updated"], body["unchanged"]) == (1, 2)
    anna = members_by_phone(imp_app)["+79120000001"]
    assert (anna.name, anna.points) == ("Анна С.", 200)
    with imp_app.app_context():
        points = db.session.scalars(
            select(LedgerEntry.points)
            .where(LedgerEntry.member_id == anna.id)
            .order_by(LedgerEntry.id)
        ).all()
        assert points == [150, 50]  # only the difference is posted
        pass_tag = db.session.scalar(
            select(Pass.update_tag).where(Pass.member_id == anna.id)
        )
        assert (
            pass_tag
            != tags[db.session.scalar(select(Pass.id).where(Pass.member_id == anna.id))]
        )
    assert_ledger_matches_balances(imp_app)


def test_old_card_number_scans_and_earns_at_the_till(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    client = imp_app.test_client()
    post(client, key, csv_bytes(ROWS))
    pos = make_key(imp_app)
    scan = client.post(
        "/api/v1/pos/scan", json={"code": "0001 2345"}, headers=auth(pos)
    )
    assert scan.status_code == 200, scan.get_json()
    assert scan.get_json()["balance"] == 150
    assert scan.get_json()["can_redeem"] is False
    bought = client.post(
        "/api/v1/pos/transactions",
        json={"code": "00012345", "amount": "1000.00", "receipt_id": "r-1"},
        headers={**auth(pos), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert bought.status_code == 201, bought.get_json()
    assert bought.get_json()["earned"] > 0
    # Redeeming needs the wallet card's barcode.
    redeem = client.post(
        "/api/v1/pos/transactions",
        json={
            "code": "00012345",
            "amount": "1000.00",
            "receipt_id": "r-2",
            "redeem_points": 10,
        },
        headers={**auth(pos), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert redeem.status_code == 403
    assert_ledger_matches_balances(imp_app)


def test_card_of_another_member_is_a_bad_row(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    client = imp_app.test_client()
    post(client, key, csv_bytes(ROWS[:1]))
    body = post(client, key, csv_bytes(["+79120000010;Другой;;;00012345;;;01.02.2024"]))
    assert body["failed"] == 1
    assert body["errors"] == [{"line": 2, "reason": "card: belongs to another member"}]


def test_not_utf8_and_no_phone_column_are_refused(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    client = imp_app.test_client()
    cp1251 = (HEADER + "\r\n" + ROWS[0] + "\r\n").encode("cp1251")
    response = client.post("/api/v1/members/import", data=cp1251, headers=auth(key))
    assert response.status_code == 422
    assert response.get_json()["error"] == "not_utf8"
    response = client.post(
        "/api/v1/members/import", data=b"name;email\r\nA;a@b.ru\r\n", headers=auth(key)
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "no_phone_column"
    empty = client.post("/api/v1/members/import", data=b"", headers=auth(key))
    assert empty.status_code == 422
    with imp_app.app_context():
        assert not db.session.scalar(select(func.count()).select_from(MemberImport))
    assert not list(Path(imp_app.config["IMPORT_DIR"]).glob("*.csv"))


def test_pos_key_cannot_import(imp_app: Flask, demo: Demo) -> None:
    response = imp_app.test_client().post(
        "/api/v1/members/import", data=csv_bytes(ROWS), headers=auth(make_key(imp_app))
    )
    assert response.status_code == 403


def test_large_file_goes_to_the_worker_in_batches_and_resumes_after_a_crash(
    imp_app: Flask,
    key: str,
    demo: Demo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.api import integration

    monkeypatch.setattr(integration, "INLINE_BYTES", 10)
    monkeypatch.setattr(imports, "BATCH", 4)
    lines = [f"+7912100{i:04d};Участник {i};;;;{i};;01.02.2024" for i in range(1, 11)]
    # A cell with a newline in quotes (Excel writes them so).
    lines[4] = '+79121000005;"Двух\r\nстрочный";;;;5;;01.02.2024'
    client = imp_app.test_client()
    queued = client.post(
        "/api/v1/members/import",
        data={"file": (io.BytesIO(csv_bytes(lines)), "base.csv")},
        headers=auth(key),
    )
    assert queued.status_code == 202
    job = queued.get_json()
    assert (job["status"], job["filename"]) == ("queued", "base.csv")
    assert queued.headers["Location"] == f"/api/v1/members/imports/{job['id']}"

    # The first batch commits; the second one crashes midway: it rolls back.
    with imp_app.app_context():
        assert imports.run_batch(job["id"]) is False
    progress = client.get(f"/api/v1/members/imports/{job['id']}", headers=auth(key))
    assert progress.get_json()["created"] == 4
    assert 0 < progress.get_json()["percent"] < 100

    real = imports.apply_batch

    def crash(*args: object) -> object:
        real(*args)  # type: ignore[arg-type]
        raise RuntimeError("killed")

    monkeypatch.setattr(imports, "apply_batch", crash)
    with imp_app.app_context():
        with pytest.raises(RuntimeError):
            imports.run_batch(job["id"])
        db.session.rollback()
    assert counts(imp_app)[0] == 3 + 4
    monkeypatch.setattr(imports, "apply_batch", real)

    with imp_app.app_context():
        scheduler.run_due()
    done = client.get(f"/api/v1/members/imports/{job['id']}", headers=auth(key))
    body = done.get_json()
    assert (body["status"], body["created"], body["failed"], body["percent"]) == (
        "done",
        10,
        0,
        100,
    )
    found = members_by_phone(imp_app)
    assert found["+79121000005"].name == "Двух строчный"
    assert found["+79121000010"].points == 10
    assert_ledger_matches_balances(imp_app)
    assert not list(Path(imp_app.config["IMPORT_DIR"]).glob("*.csv"))
    listed = client.get("/api/v1/members/imports", headers=auth(key)).get_json()
    assert [i["id"] for i in listed["imports"]] == [job["id"]]


def test_cli_imports_and_dry_runs(imp_app: Flask, demo: Demo, tmp_path: Path) -> None:
    path = tmp_path / "base.csv"
    path.write_bytes(csv_bytes(ROWS + BAD[:1]))
    runner = imp_app.test_cli_runner()
    dry = runner.invoke(args=["import-members", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert (report["created"], report["failed"]) == (3, 1)
    assert counts(imp_app)[0] == 3
    real = runner.invoke(args=["import-members", str(path), "--program", demo.slug])
    assert real.exit_code == 0, real.output
    assert json.loads(real.stdout)["created"] == 3
    assert counts(imp_app)[0] == 6
    assert path.exists()  # the operator's file is left alone
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"name\r\nx\r\n")
    refused = runner.invoke(args=["import-members", str(bad)])
    assert refused.exit_code != 0
    assert "phone" in refused.output


def test_admin_page_uploads_with_the_session_and_shows_the_report_in_russian(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    from tests.app.test_admin import csrf_token, sign_in

    imp_app.config["WTF_CSRF_ENABLED"] = True
    client = imp_app.test_client()
    sign_in(client, key)
    page = client.get("/admin/imports?lang=ru")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Импорт участников" in html
    assert "Импортов пока не было." in html
    token = csrf_token(client, "/admin/imports")
    # Without the CSRF header the session cannot write.
    refused = client.post(
        "/api/v1/members/import",
        data={"file": (io.BytesIO(csv_bytes(ROWS)), "base.csv")},
    )
    assert refused.status_code in (400, 403)
    sent = client.post(
        "/api/v1/members/import?dry_run=1",
        data={"file": (io.BytesIO(csv_bytes(ROWS + BAD)), "base.csv")},
        headers={"X-CSRFToken": token},
    )
    assert sent.status_code == 201, sent.get_json()
    report = client.get(f"/admin/imports?job={sent.get_json()['id']}")
    html = report.get_data(as_text=True)
    assert "base.csv (проверка)" in html
    assert "телефон: такого номера не существует" in html
    assert "дата согласия: не указана" in html
    assert "готово" in html
    assert counts(imp_app)[0] == 3  # a dry run


def test_invitations_send_each_new_member_their_link_once_outside_quiet_hours(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    from app.models import OutboundMessage, Program
    from tests.app.marketing_support import never_quiet

    client = imp_app.test_client()
    post(client, key, csv_bytes(ROWS[:1]))  # an earlier import: not invited
    with imp_app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert program is not None
        program.rules = {**(program.rules or {}), "quiet_hours": [0, 24]}
        db.session.commit()
    body = post(client, key, csv_bytes(ROWS), "?invite=1")
    assert (body["created"], body["unchanged"], body["invite"]) == (2, 1, True)

    def messages() -> list[tuple[int | None, str]]:
        with imp_app.app_context():
            return sorted(
                (m.member_id, m.channel)
                for m in db.session.scalars(select(OutboundMessage))
            )

    with imp_app.app_context():
        scheduler.run_due()
    assert messages() == []  # quiet hours all day: nothing yet
    never_quiet(imp_app, demo.program_id)
    with imp_app.app_context():
        scheduler.run_due()
        scheduler.run_due()
    found = members_by_phone(imp_app)
    petr, olga = found["+79120000002"], found["+79120000003"]
    assert messages() == sorted(
        [(petr.id, "sms"), (olga.id, "sms")]  # e-mail is not configured here
    )
    done = client.get(f"/api/v1/members/imports/{body['id']}", headers=auth(key))
    assert (done.get_json()["invited"], done.get_json()["invite_done"]) == (2, True)


def test_cli_resumes_an_unfinished_import_of_the_same_file(
    imp_app: Flask, demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.models import Program

    monkeypatch.setattr(imports, "BATCH", 2)
    path = tmp_path / "base.csv"
    path.write_bytes(csv_bytes(ROWS))
    with imp_app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert program is not None
        job = imports.create_job(
            program, path.resolve(), dry_run=False, filename="base.csv", owned=False
        )
        db.session.commit()
        job_id = job.id
        assert imports.run_batch(job_id) is False  # then the process "died"
    assert counts(imp_app)[0] == 3 + 2
    result = imp_app.test_cli_runner().invoke(args=["import-members", str(path)])
    assert result.exit_code == 0, result.output
    assert f"resuming import {job_id}" in result.stderr
    report = json.loads(result.stdout)
    assert (report["id"], report["created"], report["status"]) == (job_id, 3, "done")
    assert counts(imp_app)[0] == 3 + 3


def test_a_stray_carriage_return_is_a_bad_row_not_a_failed_import(
    imp_app: Flask, key: str, demo: Demo
) -> None:
    """A lone CR inside an unquoted cell (the fuzzer found a 500 here)."""
    client = imp_app.test_client()
    body = post(
        client, key, csv_bytes([ROWS[0], "+79990001234;Ан\rна;;;;;;01.02.2024"])
    )
    assert body["failed"] == 1
    assert body["errors"] == [
        {"line": 3, "reason": "a line break inside a cell without quotes"}
    ]
    assert body["rows_ok"] == 1
    header = client.post(
        "/api/v1/members/import",
        data=b"phone\r;name\n+79990001234;X\n",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert header.status_code == 422
    assert header.get_json()["error"] == "no_phone_column"
