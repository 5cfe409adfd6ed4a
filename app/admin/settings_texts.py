"""Russian and English texts of /admin/settings."""

from __future__ import annotations

from app.i18n import catalogue

TEXTS: dict[str, dict[str, str]] = {
    "nav": {"ru": "Настройки", "en": "Settings"},
    "choose": {"ru": "Выберите программу", "en": "Choose a program"},
    "brand": {"ru": "Бренд", "en": "Brand"},
    "name": {"ru": "Название программы", "en": "Program name"},
    "organization_name": {"ru": "Организация", "en": "Organization"},
    "description": {
        "ru": "Описание карты (для VoiceOver)",
        "en": "Card description (for VoiceOver)",
    },
    "logo_text": {"ru": "Текст рядом с логотипом", "en": "Text next to the logo"},
    "brand_name": {
        "ru": "Бренд латиницей (буква на значке, Google)",
        "en": "Brand in Latin letters (icon letter, Google)",
    },
    "colors": {"ru": "Цвета", "en": "Colours"},
    "color.background": {"ru": "Фон", "en": "Background"},
    "color.foreground": {"ru": "Текст", "en": "Text"},
    "color.label": {"ru": "Подписи", "en": "Labels"},
    "color.accent": {
        "ru": "Акцент (рисованные картинки)",
        "en": "Accent (drawn images)",
    },
    "images": {"ru": "Картинки", "en": "Images"},
    "images.help": {
        "ru": "PNG или JPEG до 4 МБ. Значок — квадрат от 58 px (лучше 660), "
        "логотип — от 100 px в высоту (лучше 480×150, прозрачный фон), "
        "полоса — от 750×246 (лучше 1125×369). Выбранная картинка сразу видна "
        "в примере карты, а на карты попадает после «Сохранить»; без неё "
        "картинка рисуется из цветов.",
        "en": "PNG or JPEG up to 4 MB. Icon: a square of 58 px or more (best 660); "
        "logo: 100 px high or more (best 480×150, transparent background); "
        "strip: 750×246 or more (best 1125×369). A chosen image shows in the "
        "sample card at once and goes onto the cards when you save; without "
        "one the image is drawn from the colours.",
    },
    "image.icon": {"ru": "Значок", "en": "Icon"},
    "image.logo": {"ru": "Логотип", "en": "Logo"},
    "image.strip": {"ru": "Полоса", "en": "Strip"},
    "image.drawn": {"ru": "рисуется из цветов", "en": "drawn from the colours"},
    "image.uploaded": {"ru": "загружен", "en": "uploaded"},
    "image.remove": {"ru": "Убрать", "en": "Remove"},
    "image.pending": {
        "ru": "выбрана, не сохранена:",
        "en": "chosen, not saved yet:",
    },
    "image.chosen": {"ru": "Выбранная картинка", "en": "The chosen image"},
    "image.discard": {"ru": "Отменить выбор", "en": "Discard"},
    "image.not_image": {
        "ru": "это не картинка PNG или JPEG.",
        "en": "this is not a PNG or JPEG image.",
    },
    "image.too_big": {
        "ru": "файл больше {mb} МБ.",
        "en": "the file is larger than {mb} MB.",
    },
    "image.too_wide": {
        "ru": "картинка больше {px} px по стороне.",
        "en": "the image is larger than {px} px on a side.",
    },
    "texts": {"ru": "Тексты на обороте", "en": "Texts on the back"},
    "terms_ru": {"ru": "Условия (русский)", "en": "Terms (Russian)"},
    "terms_en": {"ru": "Условия (английский)", "en": "Terms (English)"},
    "contacts_ru": {"ru": "Контакты (русский)", "en": "Contacts (Russian)"},
    "contacts_en": {"ru": "Контакты (английский)", "en": "Contacts (English)"},
    "rules": {"ru": "Правила баллов", "en": "Points rules"},
    "max_redeem_percent": {
        "ru": "Баллами можно оплатить до, % чека",
        "en": "Points may pay up to, % of a receipt",
    },
    "point_value": {"ru": "1 балл = ₽", "en": "1 point = RUB"},
    "welcome_bonus": {"ru": "Баллы за регистрацию", "en": "Sign-up bonus points"},
    "rounding": {
        "ru": "Округление начисленных баллов до целого",
        "en": "Rounding of earned points to whole points",
    },
    "rounding.down": {"ru": "вниз (9,9 → 9)", "en": "down (9.9 → 9)"},
    "rounding.nearest": {
        "ru": "до ближайшего (9,5 → 10, 9,4 → 9)",
        "en": "to the nearest (9.5 → 10, 9.4 → 9)",
    },
    "rounding.up": {"ru": "вверх (9,1 → 10)", "en": "up (9.1 → 10)"},
    # Sign-up codes (issue 14).
    "signup_otp": {
        "ru": "Подтверждать телефон кодом из SMS при регистрации",
        "en": "Confirm the phone with an SMS code at sign-up",
    },
    "time": {"ru": "Время", "en": "Time"},
    "timezone": {"ru": "Часовой пояс (IANA)", "en": "Time zone (IANA)"},
    "quiet_from": {"ru": "Тихие часы с", "en": "Quiet hours from"},
    "quiet_until": {"ru": "до", "en": "until"},
    "tiers": {"ru": "Уровни", "en": "Tiers"},
    "tier.code": {"ru": "Код", "en": "Code"},
    "tier.name_ru": {"ru": "Название (рус.)", "en": "Name (Russian)"},
    "tier.name_en": {"ru": "Название (англ.)", "en": "Name (English)"},
    "tier.min_spend": {
        "ru": "От, ₽ за 12 месяцев",
        "en": "From, RUB in 12 months",
    },
    "tier.earn_percent": {"ru": "Начисление, %", "en": "Earn, %"},
    "tier.add": {"ru": "Добавить уровень", "en": "Add a tier"},
    "tier.remove": {"ru": "Удалить", "en": "Remove"},
    "preview": {"ru": "Так выглядит карта", "en": "How the card looks"},
    "preview.note": {
        "ru": "Пример участника; QR-код — заглушка.",
        "en": "A sample member; the QR code is a placeholder.",
    },
    "save": {"ru": "Сохранить", "en": "Save"},
    "saved": {"ru": "Сохранено.", "en": "Saved."},
    "unchanged": {"ru": "Нечего сохранять.", "en": "Nothing to save."},
    "refresh": {"ru": "Обновление карт", "en": "Updating cards"},
    "refresh.retiered": {"ru": "сменили уровень:", "en": "changed tier:"},
    "refresh.help": {
        "ru": "Карты обновляются фоновым обработчиком партиями; "
        "устройства получают пуш. После новых порогов уровней уровень каждого "
        "участника пересчитывается по покупкам за 12 месяцев в тех же партиях.",
        "en": "Cards are updated in batches by the worker; devices are pushed. "
        "After new tier thresholds every member's tier is recalculated from "
        "their 12-month spend in the same batches.",
    },
}


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)
