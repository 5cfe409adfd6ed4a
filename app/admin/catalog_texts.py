"""Russian and English texts of the /admin stores, products and automations
pages (merged into app.admin.texts.TEXTS)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "nav.stores": {"ru": "Магазины", "en": "Stores"},
    "nav.products": {"ru": "Товары", "en": "Products"},
    "nav.automations": {"ru": "Автоматизации", "en": "Automations"},
    "program": {"ru": "Программа", "en": "Program"},
    "program.choose": {"ru": "Выбрать", "en": "Choose"},
    "program.none": {
        "ru": "Программ пока нет: создайте её командой demo или в настройках.",
        "en": "There is no program yet: create one (demo command or settings).",
    },
    "save": {"ru": "Сохранить", "en": "Save"},
    "saved": {"ru": "Сохранено.", "en": "Saved."},
    "form.check": {"ru": "Проверьте форму:", "en": "Please check the form:"},
    "yes": {"ru": "да", "en": "yes"},
    "no": {"ru": "нет", "en": "no"},
    "any": {"ru": "— любой —", "en": "— any —"},
    # stores
    "store.code": {"ru": "Код", "en": "Code"},
    "store.name": {"ru": "Название", "en": "Name"},
    "store.city": {"ru": "Город", "en": "City"},
    "store.address": {"ru": "Адрес", "en": "Address"},
    "store.latitude": {"ru": "Широта", "en": "Latitude"},
    "store.longitude": {"ru": "Долгота", "en": "Longitude"},
    "store.coordinates": {"ru": "Координаты", "en": "Coordinates"},
    "store.relevant_text": {
        "ru": "Текст на экране блокировки",
        "en": "Lock-screen text",
    },
    "store.active": {"ru": "Открыт", "en": "Open"},
    "store.new": {"ru": "Новый магазин", "en": "New store"},
    "store.add": {"ru": "Добавить магазин", "en": "Add store"},
    "store.edit": {"ru": "Изменить", "en": "Edit"},
    "store.editing": {"ru": "Магазин {code}", "en": "Store {code}"},
    "store.move_hint": {
        "ru": "Новые координаты переносят магазин: карты, для которых изменились "
        "ближайшие магазины, обновятся.",
        "en": "New coordinates move the store: passes whose nearest stores "
        "change are updated.",
    },
    "store.close": {"ru": "Закрыть", "en": "Close"},
    "store.reopen": {"ru": "Открыть снова", "en": "Reopen"},
    "store.closed": {"ru": "закрыт", "en": "closed"},
    "store.none": {"ru": "Магазинов пока нет.", "en": "No stores yet."},
    "refresh.title": {"ru": "Обновление карт", "en": "Pass refresh"},
    "refresh.queued": {"ru": "идёт", "en": "running"},
    "refresh.done": {"ru": "готово", "en": "done"},
    "refresh.superseded": {
        "ru": "заменено более новым",
        "en": "superseded by a newer one",
    },
    "refresh.numbers": {
        "ru": "проверено {processed} из {total}, обновлено {refreshed}",
        "en": "checked {processed} of {total}, updated {refreshed}",
    },
    # products
    "product.sku": {"ru": "Артикул (SKU)", "en": "SKU"},
    "product.name_ru": {"ru": "Название (русский)", "en": "Name (Russian)"},
    "product.name_en": {"ru": "Название (английский)", "en": "Name (English)"},
    "product.name": {"ru": "Название", "en": "Name"},
    "product.sizes": {"ru": "Размеры / варианты", "en": "Sizes / variants"},
    "product.sizes_hint": {
        "ru": "через запятую, например S, M, L; пусто — один размер",
        "en": "comma-separated, e.g. S, M, L; empty: one size",
    },
    "product.stores": {"ru": "Магазины", "en": "Stores"},
    "product.stores_hint": {
        "ru": "ничего не отмечено — во всех магазинах",
        "en": "none ticked: every store",
    },
    "product.all_stores": {"ru": "все", "en": "all"},
    "product.waiting": {"ru": "Ждут", "en": "Waiting"},
    "product.new": {"ru": "Новый товар", "en": "New product"},
    "product.create": {"ru": "Добавить товар", "en": "Add product"},
    "product.none": {"ru": "Товаров пока нет.", "en": "No products yet."},
    "product.open": {"ru": "Подписки", "en": "Subscriptions"},
    "product.back": {"ru": "← Все товары", "en": "← All products"},
    "subs.title": {
        "ru": "Подписки «Снова в наличии»",
        "en": "Back-in-stock subscriptions",
    },
    "subs.status": {"ru": "Статус", "en": "Status"},
    "subs.card": {"ru": "Карта", "en": "Card"},
    "subs.size": {"ru": "Размер", "en": "Size"},
    "subs.store": {"ru": "Магазин", "en": "Store"},
    "subs.source": {"ru": "Откуда", "en": "Source"},
    "subs.when": {"ru": "Когда", "en": "When"},
    "subs.none": {"ru": "Подписок нет.", "en": "No subscriptions."},
    "subs.filter": {"ru": "Показать", "en": "Show"},
    "subs.all": {"ru": "все", "en": "all"},
    "restock.title": {"ru": "Поступление", "en": "Restock"},
    "restock.hint": {
        "ru": "Каждый ждущий подписчик получит сообщение на карту (один раз).",
        "en": "Every waiting subscriber gets a message on their pass (once).",
    },
    "restock.submit": {"ru": "Товар поступил", "en": "Restocked"},
    "restock.result": {
        "ru": "Подписок: {matched}, отправлено сейчас: {sent}, ждут конца "
        "тихих часов: {waiting}.",
        "en": "Subscriptions: {matched}, messaged now: {sent}, waiting for the "
        "quiet hours to end: {waiting}.",
    },
    # automations
    "auto.birthday": {"ru": "День рождения", "en": "Birthday"},
    "auto.win_back": {"ru": "Возврат ушедших", "en": "Win-back"},
    "auto.welcome": {"ru": "Приветствие", "en": "Welcome"},
    "auto.points_reminder": {
        "ru": "Напоминание о баллах",
        "en": "Points reminder",
    },
    "auto.on": {"ru": "включена", "en": "on"},
    "auto.off": {"ru": "выключена", "en": "off"},
    "auto.turn_on": {"ru": "Включить", "en": "Turn on"},
    "auto.turn_off": {"ru": "Выключить", "en": "Turn off"},
    "auto.turned_on": {"ru": "«{name}» включена.", "en": "{name} is on."},
    "auto.turned_off": {"ru": "«{name}» выключена.", "en": "{name} is off."},
    "auto.run": {"ru": "Запустить сейчас", "en": "Run now"},
    "auto.run_date": {
        "ru": "За дату (необязательно)",
        "en": "For date (optional)",
    },
    "auto.ran": {
        "ru": "«{name}» за {date}: сообщений {sent}.",
        "en": "{name} for {date}: {sent} members messaged.",
    },
    "auto.waits": {
        "ru": "«{name}» ждёт до {until} (тихие часы или час отправки).",
        "en": "{name} waits until {until} (quiet hours or its hour).",
    },
    "auto.runs": {"ru": "Последние запуски", "en": "Last runs"},
    "auto.runs_none": {"ru": "Запусков ещё не было.", "en": "No runs yet."},
    "auto.run_when": {"ru": "Когда", "en": "When"},
    "auto.run_date_col": {"ru": "За дату", "en": "For date"},
    "auto.run_sent": {"ru": "Сообщений", "en": "Messaged"},
    "auto.run_trigger": {"ru": "Запуск", "en": "Trigger"},
    "auto.trigger.scheduler": {"ru": "по расписанию", "en": "scheduled"},
    "auto.trigger.manual": {"ru": "вручную", "en": "manual"},
    "auto.times": {"ru": "раз: {runs}", "en": "{runs} runs"},
    "auto.zone": {"ru": "Время: {zone}", "en": "Times in {zone}"},
    "setting.hour": {"ru": "Час отправки", "en": "Hour to send"},
    "setting.bonus_points": {"ru": "Бонусные баллы", "en": "Bonus points"},
    "setting.offer_days": {
        "ru": "Предложение действует, дней",
        "en": "Offer valid, days",
    },
    "setting.factor": {
        "ru": "Ушёл после N обычных интервалов",
        "en": "Lapsed after N usual intervals",
    },
    "setting.min_purchases": {
        "ru": "Мин. покупок для расчёта интервала",
        "en": "Purchases needed for an interval",
    },
    "setting.days": {"ru": "Дней без визита", "en": "Days without a visit"},
    "setting.within_days": {
        "ru": "Для вступивших за последние, дней",
        "en": "For members who joined within, days",
    },
    "setting.min_points": {"ru": "Баланс не меньше", "en": "Balance at least"},
    "setting.texts_ru": {"ru": "Текст (русский)", "en": "Text (Russian)"},
    "setting.texts_en": {"ru": "Текст (английский)", "en": "Text (English)"},
    "setting.hint.birthday": {
        "ru": "Подстановки: {points} — бонусные баллы, {until} — до какого числа.",
        "en": "Placeholders: {points} bonus points, {until} the offer's end date.",
    },
    "setting.hint.points_reminder": {
        "ru": "Подстановка: {points} — баланс участника.",
        "en": "Placeholder: {points} the member's balance.",
    },
    # friendly errors (by the services' error codes)
    "error.number": {
        "ru": "«{field}»: число от {low} до {high}.",
        "en": "{field}: a number from {low} to {high}.",
    },
    "error.whole": {
        "ru": "«{field}»: целое число от {low} до {high}.",
        "en": "{field}: a whole number from {low} to {high}.",
    },
    "error.text": {
        "ru": "«{field}»: от 1 до {limit} символов.",
        "en": "{field}: 1 to {limit} characters.",
    },
    "error.invalid_code": {
        "ru": "Код: строчные латинские буквы, цифры и «-» (до 40 символов).",
        "en": "Code: lowercase letters, digits and '-' (up to 40 characters).",
    },
    "error.code_exists": {
        "ru": "Магазин с таким кодом уже есть.",
        "en": "A store with this code already exists.",
    },
    "error.invalid_sku": {
        "ru": "Артикул: до 64 латинских букв, цифр, «.», «_» или «-».",
        "en": "SKU: up to 64 letters, digits, '.', '_' or '-'.",
    },
    "error.sku_exists": {
        "ru": "Товар с таким артикулом уже есть.",
        "en": "A product with this SKU already exists.",
    },
    "error.invalid_product_name": {
        "ru": "Название: по-русски обязательно, до 80 символов.",
        "en": "Name: Russian required, up to 80 characters.",
    },
    "error.invalid_sizes": {
        "ru": "Размеры: разные, до 20 символов каждый, не больше 50.",
        "en": "Sizes: distinct, up to 20 characters each, at most 50.",
    },
    "error.unknown_store": {
        "ru": "Такого открытого магазина нет.",
        "en": "There is no such open store.",
    },
    "error.invalid_store": {
        "ru": "В этом магазине товар не продаётся.",
        "en": "This store does not carry the product.",
    },
    "error.invalid_size": {
        "ru": "У товара нет такого размера.",
        "en": "The product has no such size.",
    },
    "error.invalid_texts": {
        "ru": "Текст: по-русски обязательно, до 150 символов.",
        "en": "Text: Russian required, up to 150 characters.",
    },
    "error.invalid_date": {
        "ru": "Дата: ГГГГ-ММ-ДД.",
        "en": "Date: YYYY-MM-DD.",
    },
    "error.other": {"ru": "Не получилось: {message}", "en": "That failed: {message}"},
    # -- errors branch (issue 13/14): template checks and failed runs -----------
    "error.invalid_placeholder": {
        "ru": "В тексте неизвестная подстановка «{placeholder}». Можно: {allowed}.",
        "en": "Unknown placeholder “{placeholder}” in the text. Allowed: {allowed}.",
    },
    "error.no_placeholders": {
        "ru": "никаких (фигурные скобки пишите как {{ и }})",
        "en": "none (write braces as {{ and }})",
    },
    "auto.run_failed": {
        "ru": "ошибка: {error}",
        "en": "failed: {error}",
    },
}
