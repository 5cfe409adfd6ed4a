"""Russian and English texts of the /admin dashboard."""

from __future__ import annotations

from app.admin.catalog_texts import TEXTS as CATALOG_TEXTS
from app.i18n import catalogue

TEXTS: dict[str, dict[str, str]] = {
    "title": {"ru": "Кабинет маркетолога", "en": "Marketer dashboard"},
    "login": {"ru": "Вход", "en": "Sign in"},
    "login.key": {
        "ru": "API-ключ (маркетолог или администратор)",
        "en": "API key (marketer or admin)",
    },
    "login.bad": {"ru": "Ключ не подошёл.", "en": "That key did not work."},
    "login.submit": {"ru": "Войти", "en": "Sign in"},
    "logout": {"ru": "Выйти", "en": "Sign out"},
    "nav.overview": {"ru": "Обзор", "en": "Overview"},
    "nav.segments": {"ru": "Сегменты", "en": "Segments"},
    "nav.campaigns": {"ru": "Рассылки", "en": "Campaigns"},
    "nav.members": {"ru": "Участники", "en": "Members"},
    "nav.audit": {"ru": "Журнал", "en": "Audit log"},
    "nav.settings": {"ru": "Настройки", "en": "Settings"},
    "members": {"ru": "Участников", "en": "Members"},
    "chart.signups": {"ru": "Регистрации", "en": "Sign-ups"},
    "chart.installs_apple": {"ru": "Установки Apple", "en": "Apple installs"},
    "chart.installs_android": {"ru": "Установки Android", "en": "Android installs"},
    "chart.installs_google": {"ru": "Сохранения Google", "en": "Google saves"},
    "chart.pushes_sent": {"ru": "Пуши доставлены", "en": "Pushes sent"},
    "chart.pushes_failed": {"ru": "Пуши с ошибкой", "en": "Pushes failed"},
    "chart.redemptions": {"ru": "Списания баллов", "en": "Redemptions"},
    "export": {"ru": "Скачать CSV", "en": "Download CSV"},
    "last30": {"ru": "за 30 дней, по дням", "en": "last 30 days, per day"},
    "segment": {"ru": "Сегмент (JSON)", "en": "Segment (JSON)"},
    "segment.help": {
        "ru": "Правила: all, tier, new, active, lapsed, birthday, near, "
        "installed_never_scanned, reachable, and/or/not.",
        "en": "Rules: all, tier, new, active, lapsed, birthday, near, "
        "installed_never_scanned, reachable, and/or/not.",
    },
    "count": {"ru": "Посчитать", "en": "Count"},
    "reachable": {"ru": "доступны", "en": "reachable"},
    "campaign.new": {"ru": "Новая рассылка", "en": "New campaign"},
    "campaign.name": {"ru": "Название", "en": "Name"},
    "campaign.text_ru": {"ru": "Текст (русский)", "en": "Text (Russian)"},
    "campaign.text_en": {"ru": "Текст (английский)", "en": "Text (English)"},
    "campaign.start": {"ru": "Начало (необязательно)", "en": "Start (optional)"},
    "campaign.create": {"ru": "Создать черновик", "en": "Create draft"},
    "campaign.schedule": {"ru": "Запустить", "en": "Schedule"},
    "campaign.cancel": {"ru": "Отменить", "en": "Cancel"},
    "campaign.state": {"ru": "Статус", "en": "State"},
    "campaign.progress": {"ru": "Ход", "en": "Progress"},
    "search": {"ru": "Найти", "en": "Search"},
    "search.hint": {
        "ru": "Номер карты, телефон или имя",
        "en": "Card number, phone or name",
    },
    "ledger": {"ru": "История баллов", "en": "Points history"},
    "devices": {"ru": "Устройства", "en": "Devices"},
    "pass": {"ru": "Карта", "en": "Pass"},
    "nothing": {"ru": "Ничего не найдено.", "en": "Nothing found."},
    "audit.who": {"ru": "Кто", "en": "Who"},
    "audit.what": {"ru": "Действие", "en": "Action"},
    "audit.target": {"ru": "Объект", "en": "Target"},
    "audit.when": {"ru": "Когда", "en": "When"},
    "audit.details": {"ru": "Подробности", "en": "Details"},
}

TEXTS |= CATALOG_TEXTS


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)
