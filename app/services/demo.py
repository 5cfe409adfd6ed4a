"""An idempotent demo program: a fashion retailer in Moscow and St Petersburg."""

from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Program, Store
from app.services.signup import SignupForm, find_member, sign_up

DEMO_SLUG = "severnaya"

# (code, name, city, address, latitude, longitude)
DEMO_STORES = [
    (
        "msk-evropeisky",
        "ТЦ «Европейский»",
        "Москва",
        "пл. Киевского Вокзала, 2",
        55.7446,
        37.5660,
    ),
    (
        "msk-metropolis",
        "ТЦ «Метрополис»",
        "Москва",
        "Ленинградское ш., 16А, стр. 4",
        55.8232,
        37.4969,
    ),
    ("msk-aviapark", "ТРЦ «Авиапарк»", "Москва", "Ходынский б-р, 4", 55.7905, 37.5310),
    ("msk-atrium", "ТЦ «Атриум»", "Москва", "ул. Земляной Вал, 33", 55.7574, 37.6592),
    ("msk-tverskaya", "Тверская", "Москва", "ул. Тверская, 18", 55.7658, 37.6050),
    (
        "msk-okeania",
        "ТРЦ «Океания»",
        "Москва",
        "Кутузовский пр-т, 57",
        55.7280,
        37.4760,
    ),
    (
        "msk-teply-stan",
        "МЕГА Тёплый Стан",
        "Москва",
        "Калужское ш., 21-й км",
        55.6035,
        37.4905,
    ),
    ("spb-nevsky", "Невский", "Санкт-Петербург", "Невский пр-т, 48", 59.9341, 30.3367),
    (
        "spb-galeria",
        "ТРЦ «Галерея»",
        "Санкт-Петербург",
        "Лиговский пр-т, 30А",
        59.9272,
        30.3607,
    ),
    (
        "spb-evropolis",
        "ТРК «Европолис»",
        "Санкт-Петербург",
        "Полюстровский пр-т, 84А",
        59.9867,
        30.3534,
    ),
    (
        "spb-okhta",
        "ТРЦ «Охта Молл»",
        "Санкт-Петербург",
        "Брантовская дор., 3",
        59.9398,
        30.4146,
    ),
    (
        "spb-piterland",
        "ТРЦ «Питерлэнд»",
        "Санкт-Петербург",
        "Приморский пр-т, 72",
        59.9821,
        30.2098,
    ),
    (
        "spb-grand-canyon",
        "ТРК «Гранд Каньон»",
        "Санкт-Петербург",
        "пр-т Энгельса, 154А",
        60.0586,
        30.3329,
    ),
    (
        "spb-london-mall",
        "ТРК «Лондон Молл»",
        "Санкт-Петербург",
        "ул. Коллонтай, 3",
        59.9118,
        30.4420,
    ),
]

DEMO_MEMBERS = [
    (
        "Анна Смирнова",
        "+79161234567",
        "anna@example.ru",
        date(1990, 3, 14),
        "msk-atrium",
        "ru",
    ),
    (
        "Дмитрий Козлов",
        "+79217654321",
        "dk@example.ru",
        date(1985, 11, 2),
        "spb-nevsky",
        "ru",
    ),
    (
        "Olga Ivanova",
        "+79031112233",
        "olga@example.com",
        date(1995, 7, 21),
        "msk-aviapark",
        "en",
    ),
]

TIERS = [
    {
        "code": "silver",
        "name": {"ru": "Серебро", "en": "Silver"},
        "min_spend": 0,
        "earn_percent": 3,
    },
    {
        "code": "gold",
        "name": {"ru": "Золото", "en": "Gold"},
        "min_spend": 30000,
        "earn_percent": 5,
    },
    {
        "code": "platinum",
        "name": {"ru": "Платина", "en": "Platinum"},
        "min_spend": 100000,
        "earn_percent": 7,
    },
]

TEXTS = {
    "terms": {
        "ru": "1 балл = 1 ₽. Баллы начисляются за покупки: 3–7 % в зависимости от "
        "уровня. Баллами можно оплатить до 30 % чека. Баллы действуют 12 месяцев.",
        "en": "1 point = 1 RUB. Earn 3–7% of every purchase depending on your tier. "
        "Pay up to 30% of a receipt with points. Points are valid for 12 months.",
    },
    "contacts": {
        "ru": "Горячая линия: 8 800 555-35-35, ежедневно 9:00–21:00\n"
        "severnaya-moda.example",
        "en": "Hotline: +7 800 555-35-35, daily 9:00–21:00\nsevernaya-moda.example",
    },
}


def seed_demo() -> Program:
    """Create or update the demo program, its stores and a few members."""
    config = current_app.config
    program = db.session.scalar(select(Program).where(Program.slug == DEMO_SLUG))
    if program is None:
        program = Program(slug=DEMO_SLUG)
        db.session.add(program)
    program.name = "Северная Мода"
    program.organization_name = "Северная Мода"
    program.description = "Карта лояльности «Северная Мода»"
    program.logo_text = "Северная Мода"
    program.pass_type_identifier = config["PASS_TYPE_IDENTIFIER"]
    program.team_identifier = config["TEAM_IDENTIFIER"]
    program.design = {
        "brand_name": "Severnaya Moda",
        "background": "#1b2a41",
        "foreground": "#ffffff",
        "label": "#c9d6ea",
        "accent": "#e0b15c",
    }
    program.texts = TEXTS
    program.tiers = TIERS
    program.timezone = "Europe/Moscow"
    db.session.flush()

    by_code = {s.code: s for s in program.stores}
    for code, name, city, address, latitude, longitude in DEMO_STORES:
        store = by_code.get(code) or Store(program=program, code=code)
        store.name, store.city, store.address = name, city, address
        store.latitude, store.longitude = latitude, longitude
        store.relevant_text = f"«Северная Мода» рядом: {name}"
        store.active = True
        db.session.add(store)
        by_code[code] = store
    db.session.flush()

    for name, phone, email, birthday, store_code, language in DEMO_MEMBERS:
        if find_member(program, phone) is None:
            store = by_code[store_code]
            form = SignupForm(
                name=name,
                phone=phone,
                email=email,
                birthday=birthday,
                store=store,
                city=store.city,
                language=language,
            )
            sign_up(program, form, config["CONSENT_VERSION"])
    return program
