"""Russian and English texts for the public pages (Russian is the default)."""

from __future__ import annotations

from flask import request

LANGUAGES = ("ru", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "join.title": {"ru": "Карта лояльности", "en": "Loyalty card"},
    "join.lead": {
        "ru": "Карта в вашем телефоне за 30 секунд: баланс всегда на виду, "
        "без пластика и без приложения.",
        "en": "A card in your phone in 30 seconds: your balance always in view, "
        "no plastic and no app to install.",
    },
    "field.name": {"ru": "Имя", "en": "Name"},
    "field.phone": {"ru": "Телефон", "en": "Phone"},
    "field.email": {"ru": "Эл. почта", "en": "E-mail"},
    "field.birthday": {"ru": "День рождения", "en": "Birthday"},
    "field.store": {"ru": "Любимый магазин", "en": "Favourite store"},
    "field.city": {"ru": "или город", "en": "or city"},
    "field.language": {"ru": "Язык карты", "en": "Card language"},
    "field.consent": {
        "ru": "Я согласен(на) на обработку персональных данных для участия в "
        "программе лояльности и получение уведомлений на карту.",
        "en": "I agree to the processing of my personal data for the loyalty "
        "program and to notifications on my card.",
    },
    "field.optional": {"ru": "необязательно", "en": "optional"},
    "choose": {"ru": "— выберите —", "en": "— choose —"},
    "join.submit": {"ru": "Получить карту", "en": "Get my card"},
    "join.errors": {
        "ru": "Проверьте, пожалуйста, поля формы.",
        "en": "Please check the form.",
    },
    "error.name": {
        "ru": "Укажите имя (до 120 символов).",
        "en": "Enter your name (up to 120 characters).",
    },
    "error.phone": {
        "ru": "Укажите номер телефона, например +7 912 345-67-89.",
        "en": "Enter a phone number, e.g. +7 912 345-67-89.",
    },
    "error.email": {
        "ru": "Адрес эл. почты выглядит неверно.",
        "en": "That e-mail address does not look right.",
    },
    "error.birthday": {
        "ru": "Укажите настоящую дату рождения.",
        "en": "Enter a real date of birth.",
    },
    "error.location": {
        "ru": "Выберите магазин или город.",
        "en": "Choose a store or a city.",
    },
    "error.language": {"ru": "Выберите язык.", "en": "Choose a language."},
    "error.consent": {
        "ru": "Без согласия мы не можем выпустить карту.",
        "en": "We cannot issue a card without your consent.",
    },
    "error.csrf": {
        "ru": "Страница устарела, отправьте форму ещё раз.",
        "en": "The page has expired, please submit the form again.",
    },
    "card.title": {"ru": "Ваша карта", "en": "Your card"},
    "stock.title": {"ru": "Сообщить о поступлении", "en": "Back in stock alerts"},
    "stock.size": {"ru": "размер", "en": "size"},
    "stock.store": {"ru": "Магазин", "en": "Store"},
    "stock.any_store": {"ru": "Любой магазин", "en": "Any store"},
    "stock.subscribe": {"ru": "Сообщить мне", "en": "Notify me"},
    "stock.unsubscribe": {"ru": "Отписаться", "en": "Unsubscribe"},
    "stock.none": {
        "ru": "Вы пока ничего не ждёте: выберите товар ниже.",
        "en": "You are not waiting for anything yet: pick a product below.",
    },
    "stock.invalid": {
        "ru": "Этот товар, размер или магазин недоступен.",
        "en": "This product, size or store is not available.",
    },
    "card.points": {"ru": "Баллы", "en": "Points"},
    "card.tier": {"ru": "Уровень", "en": "Tier"},
    "card.number": {"ru": "Номер карты", "en": "Card number"},
    "card.apple": {"ru": "Добавить в Apple Wallet", "en": "Add to Apple Wallet"},
    "card.google": {
        "ru": "Сохранить в Google Wallet",
        "en": "Save to Google Wallet",
    },
    "google.error_title": {
        "ru": "Google Wallet сейчас недоступен",
        "en": "Google Wallet is not available right now",
    },
    "google.error_text": {
        "ru": "Не получилось подготовить карту для Google Wallet. Попробуйте ещё "
        "раз через несколько минут — карта и баллы в порядке.",
        "en": "We could not prepare your card for Google Wallet. Please try again "
        "in a few minutes — your card and points are fine.",
    },
    "google.back": {"ru": "Вернуться к карте", "en": "Back to my card"},
    "card.android": {
        "ru": "На Android: откройте файл .pkpass в приложении WalletPasses "
        "или аналогичном.",
        "en": "On Android: open the .pkpass file in WalletPasses or a similar app.",
    },
    "card.qr": {
        "ru": "Откройте эту страницу на телефоне: наведите камеру на код.",
        "en": "Open this page on your phone: point its camera at the code.",
    },
    "card.offers": {"ru": "Предложения", "en": "Offers"},
    "card.no_offers": {
        "ru": "Пока нет предложений — они появятся на карте.",
        "en": "No offers yet — they will appear on your card.",
    },
    "card.privacy": {"ru": "Ваши данные", "en": "Your data"},
    "card.privacy_text": {
        "ru": "Мы храним имя, телефон, эл. почту и дату рождения только для "
        "программы лояльности. Согласие версии {version} от {date}.",
        "en": "We keep your name, phone, e-mail and birthday only for the loyalty "
        "program. Consent version {version} given on {date}.",
    },
    "card.download": {"ru": "Скачать мои данные", "en": "Download my data"},
    "card.erase_title": {"ru": "Удалить мои данные", "en": "Delete my data"},
    "card.erase_text": {
        "ru": "Имя, телефон, эл. почта и дата рождения будут удалены, карта на "
        "телефоне станет недействительной, баллы сгорят. Это нельзя отменить.",
        "en": "Your name, phone, e-mail and birthday will be deleted, the card on "
        "your phone becomes void and your points are lost. This cannot be undone.",
    },
    "card.erase_confirm": {
        "ru": "Да, удалить мои данные и карту",
        "en": "Yes, delete my data and my card",
    },
    "card.erase_button": {"ru": "Удалить", "en": "Delete"},
    "card.erase_confirm_needed": {
        "ru": "Отметьте галочку, чтобы подтвердить удаление.",
        "en": "Tick the box to confirm the deletion.",
    },
    "erased.title": {"ru": "Данные удалены", "en": "Your data is deleted"},
    "erased.text": {
        "ru": "Мы удалили ваши личные данные. Карта в Wallet помечена как "
        "недействительная; её можно удалить с телефона.",
        "en": "We have deleted your personal data. The card in your wallet is "
        "marked void; you can remove it from your phone.",
    },
    "error.title": {"ru": "Что-то пошло не так", "en": "Something went wrong"},
    "error.404": {
        "ru": "Такой страницы нет. Проверьте ссылку.",
        "en": "There is no such page. Please check the link.",
    },
    "error.other": {
        "ru": "Попробуйте ещё раз чуть позже.",
        "en": "Please try again a little later.",
    },
    "nav.join": {"ru": "Получить карту", "en": "Get a card"},
    # -- Card links, lost card, sign-up codes, new link (issue 14) ----------------
    "join.lost": {"ru": "Потеряли карту?", "en": "Lost your card?"},
    "sent.title": {"ru": "Ссылка отправлена", "en": "Link sent"},
    "sent.text": {
        "ru": "Мы отправили ссылку на вашу карту на {phone}.",
        "en": "We have sent the link to your card to {phone}.",
    },
    "sent.email": {
        "ru": "Если в карте указана эл. почта, ссылка придёт и туда.",
        "en": "If the card has an e-mail address, the link goes there too.",
    },
    "sent.hint": {
        "ru": "Откройте ссылку на телефоне, чтобы добавить карту в Wallet. "
        "Если сообщение не пришло за несколько минут, попробуйте позже.",
        "en": "Open the link on your phone to add the card to your wallet. "
        "If nothing arrives within a few minutes, please try again later.",
    },
    "lost.title": {"ru": "Потеряли карту?", "en": "Lost your card?"},
    "lost.lead": {
        "ru": "Укажите номер телефона, на который выпущена карта: мы пришлём "
        "на него ссылку.",
        "en": "Enter the phone number the card was issued for: we will send "
        "the link to it.",
    },
    "lost.submit": {"ru": "Прислать ссылку", "en": "Send me the link"},
    "lost.back": {"ru": "Получить новую карту", "en": "Get a new card"},
    "otp.title": {"ru": "Подтвердите номер", "en": "Confirm your number"},
    "otp.lead": {
        "ru": "Мы отправили код из 6 цифр на {phone}. Он действует 10 минут.",
        "en": "We have sent a 6-digit code to {phone}. It is valid for 10 minutes.",
    },
    "otp.code": {"ru": "Код из SMS", "en": "Code from the SMS"},
    "otp.submit": {"ru": "Подтвердить", "en": "Confirm"},
    "otp.resend": {"ru": "Прислать новый код", "en": "Send a new code"},
    "otp.wrong": {
        "ru": "Код не подходит. Проверьте цифры из SMS.",
        "en": "That code does not match. Check the digits in the SMS.",
    },
    "otp.expired": {
        "ru": "Код устарел или попыток больше нет: запросите новый.",
        "en": "The code has expired or no attempts are left: ask for a new one.",
    },
    "card.new_link_title": {"ru": "Ссылка на карту", "en": "Link to this card"},
    "card.new_link_text": {
        "ru": "Кто знает ссылку на эту страницу, видит карту. Если вы ею "
        "поделились, выпустите новую: старая перестанет открываться, карта в "
        "Wallet обновится сама.",
        "en": "Anyone with the link to this page sees the card. If you shared it, "
        "issue a new one: the old link stops working and the card in your wallet "
        "updates by itself.",
    },
    "card.new_link_button": {"ru": "Выпустить новую ссылку", "en": "Issue a new link"},
    "card.new_link_done": {
        "ru": "Готово: у карты новая ссылка, старая больше не открывается. "
        "Сохраните эту страницу в закладки.",
        "en": "Done: the card has a new link and the old one no longer opens. "
        "Bookmark this page.",
    },
}


def pick_language(explicit: str | None = None) -> str:
    """The visitor's language: explicit choice, then ?lang=, then Accept-Language."""
    for candidate in (explicit, request.args.get("lang"), request.form.get("language")):
        if candidate in LANGUAGES:
            return candidate
    return request.accept_languages.best_match(LANGUAGES, default="ru") or "ru"


def in_language(text: dict[str, str], language: str) -> str:
    """One text in `language`, falling back to Russian."""
    return text.get(language) or text["ru"]


def catalogue(texts: dict[str, dict[str, str]], language: str) -> dict[str, str]:
    """A whole table of texts in one language (pages that pass it to templates/JS)."""
    return {key: in_language(text, language) for key, text in texts.items()}


def translate(key: str, language: str, **values: object) -> str:
    text = in_language(MESSAGES[key], language)
    return text.format(**values) if values else text
