"""/admin stores, products and automations pages (forms with CSRF, friendly ru/en
messages, nothing changed on bad input), the header's program selector, and the
recorded automation runs (service and API)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from app.extensions import db
from app.models import (
    AuditEntry,
    Automation,
    AutomationRun,
    Campaign,
    Member,
    MemberMessage,
    PassRefresh,
    Product,
    ProductSubscription,
    Program,
    Store,
)
from app.services import automations, catalog, scheduler
from tests.app.marketing_support import auth, marketer_key, never_quiet
from tests.app.test_admin import csrf_token, sign_in
from tests.conftest import Demo


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def signed(csrf_app: Flask, client: FlaskClient, demo: Demo) -> FlaskClient:
    """A client signed in to /admin with a marketer key of the demo program."""
    sign_in(client, marketer_key(csrf_app, demo.program_id))
    return client


def post(client: FlaskClient, path: str, data: dict, page: str = "/admin/") -> object:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def text(response: object) -> str:
    return html.unescape(response.get_data(as_text=True))  # type: ignore[attr-defined]


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


STORE = {
    "code": "msk-new",
    "name": "Новый",
    "city": "Москва",
    "address": "ул. Новая, 1",
    "latitude": "55,7601",  # a Russian decimal comma is fine
    "longitude": "37.6201",
    "relevant_text": "Новый магазин рядом",
}


# -- stores --------------------------------------------------------------------


def test_add_move_close_and_reopen_a_store(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    page = signed.get("/admin/stores")
    assert page.status_code == 200
    assert "ТЦ «Атриум»" in text(page)
    added = post(signed, "/admin/stores", STORE)
    assert added.status_code == 302
    refresh_id = int(re.search(r"refresh=(\d+)", added.headers["Location"])[1])
    with csrf_app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == "msk-new"))
        assert (store.latitude, store.longitude) == (55.7601, 37.6201)
        refresh = db.session.get(PassRefresh, refresh_id)
        assert refresh.status == "done"  # three passes: done in the request
        assert refresh.total == len(demo.passes)
        store_id = store.id
    listed = text(signed.get(added.headers["Location"]))
    assert "msk-new" in listed
    assert "Сохранено." in listed
    assert 'id="refresh"' in listed
    assert 'data-status="done"' in listed
    progress = signed.get(f"/admin/stores/refreshes/{refresh_id}")
    assert progress.json == {
        "id": refresh_id,
        "status": "done",
        "total": len(demo.passes),
        "processed": len(demo.passes),
        "refreshed": progress.json["refreshed"],
        "retier": False,
        "retiered": 0,
    }

    edit_page = text(signed.get(f"/admin/stores?edit={store_id}"))
    assert 'id="edit-store"' in edit_page
    moved = post(
        signed,
        f"/admin/stores/{store_id}",
        {**STORE, "latitude": "59.93", "longitude": "30.33", "relevant_text": "Тут"},
    )
    assert moved.status_code == 302
    with csrf_app.app_context():
        store = db.session.get(Store, store_id)
        assert (store.latitude, store.longitude, store.relevant_text) == (
            59.93,
            30.33,
            "Тут",
        )
        assert store.code == "msk-new"  # the code is not edited

    closed = post(signed, f"/admin/stores/{store_id}/active", {"active": "0"})
    assert closed.status_code == 302
    with csrf_app.app_context():
        assert db.session.get(Store, store_id).active is False
    assert "закрыт" in text(signed.get("/admin/stores"))
    post(signed, f"/admin/stores/{store_id}/active", {"active": "1"})
    with csrf_app.app_context():
        assert db.session.get(Store, store_id).active is True
        actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"store.create", "store.update", "store.close", "store.open"} <= actions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latitude": "north"}, "«Широта»: число от -90 до 90."),
        ({"longitude": "200"}, "«Долгота»: число от -180 до 180."),
        ({"code": "Msk New"}, "Код: строчные латинские буквы"),
        ({"code": "msk-atrium"}, "Магазин с таким кодом уже есть."),
        ({"name": "  "}, "«Название»: от 1 до 120 символов."),
        ({"relevant_text": "x" * 121}, "«Текст на экране блокировки»: от 1 до 120"),
    ],
)
def test_bad_store_input_is_explained_and_changes_nothing(
    csrf_app: Flask, signed: FlaskClient, demo: Demo, change: dict, message: str
) -> None:
    stores_before = count(csrf_app, Store)
    refreshes_before = count(csrf_app, PassRefresh)
    answer = post(signed, "/admin/stores", {**STORE, **change})
    assert answer.status_code == 422
    body = text(answer)
    assert message in body
    # The form keeps what was typed.
    assert f'value="{STORE["address"]}"' in body
    assert count(csrf_app, Store) == stores_before
    assert count(csrf_app, PassRefresh) == refreshes_before


def test_bad_move_changes_nothing_and_english_messages(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    with csrf_app.app_context():
        atrium = db.session.scalar(select(Store).where(Store.code == "msk-atrium"))
        before = (atrium.latitude, atrium.longitude, atrium.name)
        atrium_id = atrium.id
    signed.get("/admin/stores?lang=en")
    answer = post(
        signed,
        f"/admin/stores/{atrium_id}",
        {**STORE, "name": "Renamed", "latitude": "95"},
    )
    assert answer.status_code == 422
    assert "Latitude: a number from -90 to 90." in text(answer)
    assert 'id="edit-store"' in text(answer)
    with csrf_app.app_context():
        atrium = db.session.get(Store, atrium_id)
        assert (atrium.latitude, atrium.longitude, atrium.name) == before


def test_store_forms_need_the_csrf_token_and_the_program(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    assert signed.post("/admin/stores", data=STORE).status_code == 400
    assert count(csrf_app, PassRefresh) == 0
    assert signed.get("/admin/stores/refreshes/999").status_code == 404
    assert post(signed, "/admin/stores/999/active", {"active": "0"}).status_code == 404


def test_a_big_program_refresh_goes_on_in_the_worker(
    csrf_app: Flask, signed: FlaskClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With batches smaller than the program, the request does the first one and
    the page's JSON shows the rest progressing as the scheduled job runs."""
    from app.services import stores

    monkeypatch.setattr(stores, "BATCH", 2)
    added = post(signed, "/admin/stores", STORE)
    refresh_id = int(re.search(r"refresh=(\d+)", added.headers["Location"])[1])
    first = signed.get(f"/admin/stores/refreshes/{refresh_id}").json
    assert (first["status"], first["processed"], first["total"]) == ("queued", 2, 3)
    assert 'data-status="queued"' in text(signed.get(added.headers["Location"]))
    with csrf_app.app_context():
        assert scheduler.run_due(datetime.now(UTC))["store_refresh"] == "ok"
    done = signed.get(f"/admin/stores/refreshes/{refresh_id}").json
    assert (done["status"], done["processed"]) == ("done", 3)


# -- products ------------------------------------------------------------------


def _store_ids(app: Flask, *codes: str) -> list[int]:
    with app.app_context():
        return [
            db.session.scalar(select(Store.id).where(Store.code == code))
            for code in codes
        ]


def test_create_product_subscriptions_and_restock(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    never_quiet(csrf_app, demo.program_id)
    atrium, nevsky = _store_ids(csrf_app, "msk-atrium", "spb-nevsky")
    created = signed.post(
        "/admin/products",
        data={
            "sku": "COAT-1",
            "name_ru": "Пальто",
            "name_en": "Coat",
            "sizes": "S, M ,L",
            "store_ids": [str(atrium), str(nevsky)],
            "csrf_token": csrf_token(signed, "/admin/products"),
        },
    )
    assert created.status_code == 302
    assert created.headers["Location"].endswith("/admin/products/COAT-1")
    with csrf_app.app_context():
        product = db.session.scalar(select(Product))
        assert (product.name, product.sizes, product.store_ids) == (
            {"ru": "Пальто", "en": "Coat"},
            ["S", "M", "L"],
            sorted([atrium, nevsky]),
        )
        anna, boris, vera = (db.session.get(Member, p.member_id) for p in demo.passes)
        catalog.subscribe(anna, product, "M", atrium, "card")
        catalog.subscribe(boris, product, "L", None, "api")
        catalog.subscribe(vera, product, None, nevsky, "pos")
        db.session.commit()
        anna_card = anna.card_number
        anna_id, boris_id, vera_id = anna.id, boris.id, vera.id

    listing = text(signed.get("/admin/products"))
    assert re.search(r'data-sku="COAT-1">.*?class="waiting">3<', listing, re.S)
    page = text(signed.get("/admin/products/COAT-1"))
    assert anna_card in page
    assert "ТЦ «Атриум»" in page
    # Size M in the Atrium: Anna (M, Atrium) only; Vera waits for the Nevsky.
    restocked = post(
        signed,
        "/admin/products/COAT-1/restock",
        {"size": "M", "store_id": str(atrium)},
        "/admin/products/COAT-1",
    )
    assert restocked.status_code == 302
    shown = text(signed.get("/admin/products/COAT-1"))
    assert "Подписок: 1, отправлено сейчас: 1" in shown
    with csrf_app.app_context():
        states = dict(
            db.session.execute(
                select(ProductSubscription.member_id, ProductSubscription.status)
            ).all()
        )
        assert states == {
            anna_id: "fulfilled",
            boris_id: "waiting",
            vera_id: "waiting",
        }
        (key,) = db.session.scalars(
            select(MemberMessage.source_key).where(MemberMessage.member_id == anna_id)
        )
        assert key.startswith("restock:")
    fulfilled = text(signed.get("/admin/products/COAT-1?status=fulfilled"))
    assert anna_card in fulfilled
    # Every size, every store: the other two.
    post(signed, "/admin/products/COAT-1/restock", {}, "/admin/products/COAT-1")
    assert "Подписок: 2, отправлено сейчас: 2" in text(
        signed.get("/admin/products/COAT-1")
    )


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"sku": "пальто"}, "Артикул: до 64 латинских букв"),
        ({"name_ru": ""}, "Название: по-русски обязательно"),
        ({"sizes": "S, S"}, "Размеры: разные"),
        ({"store_ids": "999999"}, "Такого открытого магазина нет."),
        ({"store_ids": "x"}, "Такого открытого магазина нет."),
    ],
)
def test_bad_product_input_is_explained_and_changes_nothing(
    csrf_app: Flask, signed: FlaskClient, demo: Demo, form: dict, message: str
) -> None:
    good = {"sku": "HAT-1", "name_ru": "Шапка", "sizes": "S"}
    answer = post(signed, "/admin/products", {**good, **form}, "/admin/products")
    assert answer.status_code == 422
    assert message in text(answer)
    assert count(csrf_app, Product) == 0


def test_duplicate_sku_and_bad_restock(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    with csrf_app.app_context():
        program = db.session.get(Program, demo.program_id)
        catalog.create_product(
            program, {"sku": "HAT-1", "name": "Шапка", "sizes": ["S"]}
        )
        db.session.commit()
    duplicate = post(signed, "/admin/products", {"sku": "HAT-1", "name_ru": "Другая"})
    assert duplicate.status_code == 422
    assert "Товар с таким артикулом уже есть." in text(duplicate)
    assert count(csrf_app, Product) == 1
    bad_size = post(signed, "/admin/products/HAT-1/restock", {"size": "XXL"})
    assert bad_size.status_code == 422
    assert "У товара нет такого размера." in text(bad_size)
    assert signed.get("/admin/products/NOPE").status_code == 404
    assert post(signed, "/admin/products/NOPE/restock", {}).status_code == 404


# -- automations ---------------------------------------------------------------


def test_automations_toggle_settings_and_runs(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    page = text(signed.get("/admin/automations"))
    for title in ("День рождения", "Возврат ушедших", "Приветствие"):
        assert title in page
    assert page.count("Запусков ещё не было.") == len(automations.NAMES)

    on = post(signed, "/admin/automations/birthday/enabled", {"enabled": "1"})
    assert on.status_code == 302
    assert "«День рождения» включена." in text(signed.get("/admin/automations"))
    saved = post(
        signed,
        "/admin/automations/birthday",
        {
            "hour": "11",
            "bonus_points": "300",
            "offer_days": "10",
            "texts_ru": "С ДР! +{points}",
            "texts_en": "",
        },
    )
    assert saved.status_code == 302
    with csrf_app.app_context():
        program = db.session.get(Program, demo.program_id)
        row = automations.automation(program, "birthday")
        assert row.enabled
        assert row.settings == {
            "hour": 11,
            "bonus_points": 300,
            "offer_days": 10,
            "texts": {"ru": "С ДР! +{points}"},
        }
    # Anna's birthday in the demo is 14 March.
    ran = post(signed, "/admin/automations/birthday/run", {"date": "2026-03-14"})
    assert ran.status_code == 302
    after = text(signed.get("/admin/automations"))
    assert "«День рождения» за 14.03.2026: 1 сообщение." in after
    section = re.search(r'id="auto-birthday".*?</section>', after, re.S)[0]
    assert '<td class="date">14.03.2026</td><td class="sent">1</td>' in section
    assert "вручную" in section
    off = post(signed, "/admin/automations/birthday/enabled", {"enabled": "0"})
    assert off.status_code == 302
    with csrf_app.app_context():
        assert not db.session.scalar(
            select(Automation.enabled).where(Automation.name == "birthday")
        )
        actions = list(db.session.scalars(select(AuditEntry.action)))
    assert {"automation.on", "automation.configure", "automation.run"} <= set(actions)
    assert "automation.off" in actions


@pytest.mark.parametrize(
    ("name", "form", "message"),
    [
        ("birthday", {"hour": "24"}, "«Час отправки»: целое число от 0 до 23."),
        ("birthday", {"bonus_points": "много"}, "«Бонусные баллы»: целое число"),
        ("win_back", {"factor": "0,5"}, "«Ушёл после N обычных интервалов»: число"),
        ("welcome", {"texts_ru": ""}, "Текст: по-русски обязательно"),
        ("welcome", {"texts_ru": "x" * 151}, "Текст: по-русски обязательно"),
    ],
)
def test_bad_automation_settings_change_nothing(
    csrf_app: Flask,
    signed: FlaskClient,
    demo: Demo,
    name: str,
    form: dict,
    message: str,
) -> None:
    with csrf_app.app_context():
        defaults = automations.DEFAULTS[name]
    good = {k: str(v) for k, v in defaults.items() if k != "texts"}
    good |= {"texts_ru": defaults["texts"]["ru"], "texts_en": defaults["texts"]["en"]}
    answer = post(signed, f"/admin/automations/{name}", {**good, **form})
    assert answer.status_code == 422
    assert message in text(answer)
    with csrf_app.app_context():
        row = db.session.scalar(select(Automation).where(Automation.name == name))
        assert row is None or row.settings == {}


def test_bad_run_date_and_unknown_automation(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    answer = post(signed, "/admin/automations/birthday/run", {"date": "14.03.2026"})
    assert answer.status_code == 422
    assert "Дата: ГГГГ-ММ-ДД." in text(answer)
    assert count(csrf_app, AutomationRun) == 0
    assert post(signed, "/admin/automations/nope/enabled", {}).status_code == 404


def test_runs_are_recorded_and_scheduled_runs_fold_per_date(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    never_quiet(app, demo.program_id)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.configure(
            automations.automation(program, "welcome"), {"enabled": True}
        )
        db.session.commit()
        now = datetime.now(UTC)
        scheduler.run_due(now)  # welcomes the three demo members
        scheduler.run_due(now)  # nothing new: folded into the same record
        automations.run(program, "welcome", now, force=True)  # manual: its own
        db.session.commit()
        runs = automations.recent_runs(automations.automation(program, "welcome"))
        days = [r.for_date.isoformat() for r in runs]
        assert [(r.trigger, r.sent, r.runs) for r in runs] == [
            ("manual", 0, 1),
            ("scheduler", 3, 2),
        ]
        # Waiting (quiet hours) or disabled runs are not runs.
        program.rules = {}  # quiet 21:00-09:00 Moscow time
        late = datetime(2026, 3, 14, 20, tzinfo=UTC)
        assert "waiting_until" in automations.run(program, "welcome", late, force=True)
        assert automations.run(program, "win_back", now)["skipped"] == "disabled"
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(AutomationRun)) == 2
    key = marketer_key(app, demo.program_id)
    listed = client.get("/api/v1/automations", headers=auth(key)).get_json()
    welcome = next(a for a in listed["automations"] if a["name"] == "welcome")
    assert [
        (r["trigger"], r["date"], r["sent"], r["runs"]) for r in welcome["last_runs"]
    ] == [
        ("manual", days[0], 0, 1),
        ("scheduler", days[1], 3, 2),
    ]
    assert all(r["started_at"] <= r["finished_at"] for r in welcome["last_runs"])
    birthday = next(a for a in listed["automations"] if a["name"] == "birthday")
    assert birthday["last_runs"] == []


def test_api_run_is_recorded_as_manual(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    ran = client.post(
        "/api/v1/automations/birthday/run",
        json={"date": "2026-03-14"},
        headers=auth(key),
    )
    assert ran.get_json()["sent"] == 1
    listed = client.get("/api/v1/automations", headers=auth(key)).get_json()
    (run,) = listed["automations"][0]["last_runs"]
    assert (run["trigger"], run["date"], run["sent"]) == ("manual", "2026-03-14", 1)
    with app.app_context():
        assert db.session.scalar(select(AutomationRun.for_date)) == date(2026, 3, 14)


# -- the program selector ------------------------------------------------------


def _second_program(app: Flask) -> int:
    with app.app_context():
        program = Program(
            slug="second",
            name="Вторая Марка",
            organization_name="Вторая Марка",
            description="Карта",
            logo_text="Вторая",
            pass_type_identifier="pass.second.brand",
            team_identifier="SECONDTM01",
            design={},
            texts={},
        )
        db.session.add(program)
        db.session.flush()
        db.session.add(
            Store(
                program_id=program.id,
                code="kzn-1",
                name="Казань-1",
                city="Казань",
                address="ул. Баумана, 1",
                latitude=55.79,
                longitude=49.11,
                relevant_text="Рядом",
            )
        )
        db.session.commit()
        return program.id


def test_an_admin_key_picks_the_program_and_every_page_uses_it(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    second = _second_program(csrf_app)
    sign_in(client, marketer_key(csrf_app, demo.program_id, role="admin"))
    stores_page = text(client.get("/admin/stores"))
    assert 'id="program-select"' in stores_page
    assert "ТЦ «Атриум»" in stores_page  # the first program by default
    assert "Казань-1" not in stores_page
    # The campaign form sends no program_id: the session's program is used.
    token = csrf_token(client, "/admin/campaigns")
    body = {"name": "x", "texts": {"ru": "Привет"}, "segment": {"all": {}}}
    created = client.post(
        "/api/v1/campaigns", json=body, headers={"X-CSRFToken": token}
    )
    assert created.status_code == 201, created.get_json()
    preview = client.post(
        "/api/v1/segments/preview",
        json={"segment": {"all": {}}},
        headers={"X-CSRFToken": token},
    )
    assert preview.json["members"] == len(demo.passes)

    chosen = client.post(
        "/admin/program",
        data={"program_id": str(second), "next": "/admin/stores", "csrf_token": token},
    )
    assert chosen.status_code == 302
    assert chosen.headers["Location"].endswith("/admin/stores")
    stores_page = text(client.get("/admin/stores"))
    assert "Казань-1" in stores_page
    assert "ТЦ «Атриум»" not in stores_page
    created = client.post(
        "/api/v1/campaigns", json=body, headers={"X-CSRFToken": token}
    )
    assert created.status_code == 201
    preview = client.post(
        "/api/v1/segments/preview",
        json={"segment": {"all": {}}},
        headers={"X-CSRFToken": token},
    )
    assert preview.json["members"] == 0
    # The page and the API list only the chosen program's campaigns.
    listed = client.get("/api/v1/campaigns").json["campaigns"]
    assert len(listed) == 1
    assert text(client.get("/admin/campaigns")).count("data-campaign=") == 1
    # The audit log: this program's entries and the admin key's sign-in.
    log = text(client.get("/admin/audit"))
    assert log.count("campaign.create") == 1
    assert "admin.login" in log
    with csrf_app.app_context():
        programs = sorted(db.session.scalars(select(Campaign.program_id)))
    assert programs == sorted([demo.program_id, second])
    # Off-site targets are ignored; unknown programs change nothing.
    away = client.post(
        "/admin/program",
        data={
            "program_id": str(demo.program_id),
            "next": "//evil.example/",
            "csrf_token": token,
        },
    )
    assert away.headers["Location"].endswith("/admin/")
    client.post("/admin/program", data={"program_id": "99999", "csrf_token": token})
    assert "ТЦ «Атриум»" in text(client.get("/admin/stores"))


def test_a_program_key_has_no_selector_and_cannot_switch(
    csrf_app: Flask, signed: FlaskClient, demo: Demo
) -> None:
    second = _second_program(csrf_app)
    assert 'id="program-select"' not in text(signed.get("/admin/stores"))
    post(signed, "/admin/program", {"program_id": str(second)})
    page = text(signed.get("/admin/stores"))
    assert "ТЦ «Атриум»" in page
    assert "Казань-1" not in page


# -- the migration -------------------------------------------------------------


def test_migration_down_and_up(app: Flask, demo: Demo) -> None:
    with app.app_context():
        db.session.remove()
        assert "automation_run" in inspect(db.engine).get_table_names()
        downgrade(revision="0008_automations")
        db.engine.dispose()
        assert "automation_run" not in inspect(db.engine).get_table_names()
        upgrade()
        db.engine.dispose()
        assert "automation_run" in inspect(db.engine).get_table_names()
