"""Texts of the cashier page, Russian and English (the page's JS gets them too)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "title": {"ru": "Касса", "en": "Till"},
    "signin.lead": {
        "ru": "Войдите ключом магазина. Ключ хранится только в этой вкладке.",
        "en": "Sign in with the store key. It stays in this browser tab only.",
    },
    "signin.key": {"ru": "Ключ магазина", "en": "Store key"},
    "signin.submit": {"ru": "Войти", "en": "Sign in"},
    "signin.bad": {
        "ru": "Ключ не подошёл: проверьте его или попросите новый.",
        "en": "That key did not work: check it or ask for a new one.",
    },
    "signout": {"ru": "Выйти", "en": "Sign out"},
    "scan.label": {
        "ru": "Отсканируйте карту или введите номер и нажмите Enter",
        "en": "Scan the card or type its number and press Enter",
    },
    "scan.camera": {"ru": "Камера", "en": "Camera"},
    "scan.camera_stop": {"ru": "Закрыть камеру", "en": "Close camera"},
    "scan.camera_failed": {
        "ru": "Камера недоступна. Используйте сканер или введите номер.",
        "en": "The camera is not available. Use the scanner or type the number.",
    },
    "member.balance": {"ru": "Баллы", "en": "Points"},
    "member.tier": {"ru": "Уровень", "en": "Tier"},
    "member.card": {"ru": "Карта", "en": "Card"},
    "member.offers": {"ru": "Предложения", "en": "Offers"},
    "member.back_in_stock": {"ru": "Ждёт поступления", "en": "Waiting for restock"},
    "member.typed": {
        "ru": "Номер введён вручную: списать баллы можно только по штрихкоду.",
        "en": "Number typed by hand: points can be redeemed only with the barcode.",
    },
    "form.amount": {"ru": "Сумма чека, ₽", "en": "Receipt total, RUB"},
    "form.receipt": {"ru": "Номер чека", "en": "Receipt number"},
    "form.redeem": {"ru": "Списать баллов", "en": "Points to redeem"},
    "form.redeem_max": {"ru": "не больше {max}", "en": "at most {max}"},
    "form.submit": {"ru": "Провести", "en": "Confirm"},
    "form.cancel": {"ru": "Отмена", "en": "Cancel"},
    "result.done": {
        "ru": "Готово: начислено {earned}, списано {redeemed}. Баланс: {balance}.",
        "en": "Done: earned {earned}, redeemed {redeemed}. Balance: {balance}.",
    },
    "result.upgraded": {
        "ru": "Новый уровень: {tier}!",
        "en": "New tier: {tier}!",
    },
    "recent.title": {"ru": "Последние покупки", "en": "Recent purchases"},
    "recent.empty": {"ru": "Покупок пока нет.", "en": "No purchases yet."},
    "recent.refund": {"ru": "Возврат", "en": "Refund"},
    "recent.refunded": {"ru": "возвращено", "en": "refunded"},
    "recent.confirm_refund": {
        "ru": "Оформить возврат баллов по чеку {receipt}?",
        "en": "Reverse the points of receipt {receipt}?",
    },
    "refund.done": {
        "ru": "Возврат оформлен. Баланс: {balance}.",
        "en": "Refund done. Balance: {balance}.",
    },
    "error.unknown_card": {
        "ru": "Карта не найдена. Отсканируйте ещё раз или проверьте номер.",
        "en": "Card not found. Scan again or check the number.",
    },
    "error.other_program": {
        "ru": "Это карта другой программы лояльности.",
        "en": "This card belongs to another loyalty program.",
    },
    "error.other_store": {
        "ru": "Эта покупка сделана в другом магазине: возврат оформляют там.",
        "en": "This purchase was made in another store: refund it there.",
    },
    "error.insufficient_points": {
        "ru": "Недостаточно баллов: на карте {balance}.",
        "en": "Not enough points: the card has {balance}.",
    },
    "error.redeem_limit": {
        "ru": "Баллами можно оплатить не больше {max} по этому чеку.",
        "en": "At most {max} points can pay for this receipt.",
    },
    "error.barcode_required": {
        "ru": "Чтобы списать баллы, отсканируйте штрихкод карты.",
        "en": "To redeem points, scan the card's barcode.",
    },
    "error.invalid_amount": {
        "ru": "Введите сумму чека больше нуля, например 1499.90.",
        "en": "Enter a receipt total above zero, e.g. 1499.90.",
    },
    "error.invalid_receipt_id": {
        "ru": "Введите номер чека.",
        "en": "Enter the receipt number.",
    },
    "error.invalid_redeem_points": {
        "ru": "Баллы — целое число, не меньше нуля.",
        "en": "Points must be a whole number, zero or more.",
    },
    "error.idempotency_key_reused": {
        "ru": "Прошлая попытка уже прошла с другими данными. Проверьте последние "
        "покупки.",
        "en": "The previous attempt went through with other details. Check the "
        "recent purchases.",
    },
    "error.network": {
        "ru": "Нет связи с сервером. Нажмите «Провести» ещё раз — повтор не "
        "спишет дважды.",
        "en": "No connection to the server. Press Confirm again: a retry never "
        "charges twice.",
    },
    "error.network_scan": {
        "ru": "Нет связи с сервером. Попробуйте ещё раз.",
        "en": "No connection to the server. Please try again.",
    },
    "error.unauthorized": {
        "ru": "Ключ больше не действует. Войдите снова.",
        "en": "The key is no longer valid. Please sign in again.",
    },
    # -- closed cards (issue 14 §3) -------------------------------------------
    "error.card_closed": {
        "ru": "Карта закрыта: участник вышел из программы или карта отозвана. "
        "Баллы по ней не начисляются и не списываются.",
        "en": "This card is closed: the member left the program or the card was "
        "withdrawn. It can no longer earn or pay with points.",
    },
    # -------------------------------------------------------------------------
    "error.other": {
        "ru": "Не получилось: {message}",
        "en": "That did not work: {message}",
    },
}
