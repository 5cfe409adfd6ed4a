"""The cashier page in headless Chromium: sign in, scan, sell, retry, refund."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, Route, expect
from sqlalchemy import func, select

from app.extensions import db
from app.i18n import money, points_text
from app.models import PosTransaction
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    make_key,
)
from tests.conftest import Demo

pytestmark = pytest.mark.browser


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    return make_key(app)


def sign_in(page: Page, base_url: str, key: str, lang: str = "ru") -> None:
    page.goto(f"{base_url}/pos?lang={lang}")
    page.fill("#key", key)
    page.click("#signin-submit")
    expect(page.locator("#till")).to_be_visible()
    expect(page.locator("#scan")).to_be_focused()


def scan(page: Page, code: str) -> None:
    """What a USB scanner does: type into the focused field, then Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def transactions(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(PosTransaction.id)))


def test_sign_in_scan_sell_and_refund(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    page.goto(f"{base_url}/pos")
    page.fill("#key", "wlk_wrong_key")
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_contain_text("Ключ не подошёл")

    sign_in(page, base_url, key)
    expect(page.locator("#store-name")).to_contain_text("ТЦ «Атриум»")
    assert key not in page.url
    # The key stays for this tab: a reload keeps the till signed in.
    page.reload()
    expect(page.locator("#till")).to_be_visible()

    c = card(app, demo.passes[0].member_id)
    page.locator("#scan").focus()
    scan(page, c.barcode)
    expect(page.locator("#member-name")).to_have_text("Анна Смирнова")
    expect(page.locator("#member-balance")).to_have_text("100")
    expect(page.locator("#member-tier")).to_have_text("Серебро")
    expect(page.locator("#member-phone")).to_have_text("+7 *** ***-45-67")
    expect(page.locator("#member-typed")).to_be_hidden()
    expect(page.locator("#amount")).to_be_focused()

    # The points field appears once the amount is typed, with its cap.
    expect(page.locator("#redeem")).to_be_hidden()
    page.fill("#amount", "1 000,00")
    expect(page.locator("#redeem-label")).to_have_text("Списать баллов (не больше 100)")
    page.fill("#receipt", "A-17")
    page.fill("#redeem", "100")
    page.click("#confirm")
    expect(page.locator("#message")).to_have_text(
        "Готово: начислено 27 баллов, списано 100 баллов. Баланс: 27 баллов."
    )
    expect(page.locator("#scan")).to_be_focused()
    assert balance(app, c.member_id) == 27

    row = page.locator("#recent tbody tr").first
    expect(row).to_contain_text("A-17")
    expect(row).to_contain_text("Анна Смирнова")
    # Money as Babel writes it in Russian: no-break spaces (U+00A0).
    expect(row).to_contain_text("1\u00a0000,00\u00a0₽")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.refund").click()
    expect(page.locator("#message")).to_have_text(
        "Возврат оформлен. Баланс: 100 баллов."
    )
    expect(page.locator("#recent tbody tr").first).to_contain_text("возвращено")
    assert balance(app, c.member_id) == 100
    assert_ledger_matches_balances(app)

    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_unknown_card_and_insufficient_points_messages(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    sign_in(page, base_url, key)
    scan(page, "1234 5678 9012")
    expect(page.locator("#message")).to_have_text(
        "Карта не найдена. Отсканируйте ещё раз или проверьте номер."
    )
    expect(page.locator("#member")).to_be_hidden()
    expect(page.locator("#scan")).to_be_focused()

    c = card(app, demo.passes[1].member_id)
    scan(page, c.barcode)
    page.fill("#amount", "10000")
    page.fill("#receipt", "B-1")
    page.fill("#redeem", "500")
    page.click("#confirm")
    expect(page.locator("#message")).to_have_text(
        "Недостаточно баллов: на карте 100 баллов."
    )
    page.fill("#amount", "100")
    page.fill("#redeem", "50")
    page.click("#confirm")
    expect(page.locator("#message")).to_have_text(
        "Баллами можно оплатить не больше 30 по этому чеку."
    )
    assert transactions(app) == 0


def test_the_redeem_field_appears_with_the_cap_for_the_amount_typed(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    from app.models import Member, Program
    from app.services import loyalty

    member_id = demo.passes[1].member_id
    sign_in(page, base_url, key)
    scan(page, card(app, member_id).barcode)
    expect(page.locator("#member-balance")).to_have_text("100")
    expect(page.locator("#redeem-box")).to_be_hidden()
    label = page.locator("#redeem-label")
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        assert db.session.get(Member, member_id).points == 100
        # The page's figure is the rule's (30 % of the receipt, 1 ₽ a point).
        cases = {
            "100": loyalty.max_redeem(program, 10000),
            "123,45": loyalty.max_redeem(program, 12345),
            "1 000": min(100, loyalty.max_redeem(program, 100000)),
        }
    assert cases == {"100": 30, "123,45": 37, "1 000": 100}
    for typed, cap in cases.items():
        page.fill("#amount", typed)
        expect(label).to_have_text(f"Списать баллов (не больше {cap})")
        expect(page.locator("#redeem")).to_be_visible()
    page.fill("#amount", "")
    expect(page.locator("#redeem-box")).to_be_hidden()
    page.fill("#amount", "0")
    expect(page.locator("#redeem-box")).to_be_hidden()


def test_typed_number_cannot_redeem(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    sign_in(page, base_url, key, lang="en")
    c = card(app, demo.passes[2].member_id)
    scan(page, c.number)
    expect(page.locator("#member-name")).to_have_text("Olga Ivanova")
    expect(page.locator("#member-typed")).to_contain_text("only with the barcode")
    expect(page.locator("#redeem")).to_be_disabled()
    page.fill("#amount", "250.50")
    expect(page.locator("#redeem-box")).to_be_hidden()
    page.fill("#receipt", "C-1")
    page.click("#confirm")
    expect(page.locator("#message")).to_have_text(
        "Done: earned 7 points, redeemed 0 points. Balance: 107 points."
    )


def test_a_retry_after_a_lost_answer_reuses_the_key(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    sign_in(page, base_url, key)
    seen_keys: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        seen_keys.append(route.request.headers["idempotency-key"])
        if len(seen_keys) == 1:
            route.fetch()  # the server records the sale...
            route.abort("connectionreset")  # ...but the till never hears back
        else:
            route.continue_()

    page.route("**/api/v1/pos/transactions", lose_the_first_answer)
    c = card(app, demo.passes[0].member_id)
    scan(page, c.barcode)
    page.fill("#amount", "2000")
    page.fill("#receipt", "D-1")
    page.click("#confirm")
    expect(page.locator("#message")).to_contain_text("Нет связи с сервером")
    assert transactions(app) == 1  # it did go through
    page.click("#confirm")
    expect(page.locator("#message")).to_have_text(
        "Готово: начислено 60 баллов, списано 0 баллов. Баланс: 160 баллов."
    )
    assert len(seen_keys) == 2
    assert seen_keys[0] == seen_keys[1]
    assert transactions(app) == 1
    assert balance(app, c.member_id) == 160

    # The next customer gets a new key.
    scan(page, c.barcode)
    page.fill("#amount", "100")
    page.fill("#receipt", "D-2")
    page.click("#confirm")
    expect(page.locator("#message")).to_contain_text("Баланс: 163 балла.")
    assert len(set(seen_keys)) == 2


def test_keys_typed_on_the_page_go_to_the_scan_field(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    sign_in(page, base_url, key)
    page.locator("h1").click()  # focus falls back to the page
    expect(page.locator("#scan")).to_be_focused()
    c = card(app, demo.passes[0].member_id)
    scan(page, c.barcode)
    expect(page.locator("#member-name")).to_have_text("Анна Смирнова")
    # The camera button appears wherever there is a camera API: the browser's
    # BarcodeDetector or, without it, jsQR reads the QR code
    # (tests/browser/test_pos_camera.py).
    has_camera = page.evaluate(
        "!!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)"
    )
    camera = expect(page.locator("#camera"))
    camera.to_be_visible() if has_camera else camera.to_be_hidden()


COUNTS = (0, 1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111, 1250)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_page_script_writes_plurals_and_money_as_babel_does(
    base_url: str, page: Page, lang: str
) -> None:
    page.goto(f"{base_url}/pos?lang={lang}")
    page.wait_for_function("window.I18N !== undefined")
    shown = page.evaluate(
        "counts => counts.map(n => I18N.plural('points', n))", list(COUNTS)
    )
    assert shown == [points_text(n, lang) for n in COUNTS]
    if lang == "ru":
        assert shown[1:4] == ["1 балл", "2 балла", "4 балла"]
        assert shown[8:12] == ["21 балл", "22 балла", "25 баллов", "101 балл"]
        assert page.evaluate("I18N.money('2499.90')") == money("2499.90", "ru")
        assert money("2499.90", "ru") == "2\u00a0499,90\u00a0₽"


def test_offer_buttons_show_the_discount_and_amount_to_pay_before_confirming(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    from app.models import Member, MemberOffer, Program
    from app.services import offers

    member_id = demo.passes[0].member_id
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        offer = offers.create_offer(
            program,
            {
                "kind": "percent_off",
                "value": 15,
                "title": {"ru": "−15 % на всё", "en": "15 % off"},
                "valid_days": 7,
                "min_amount": "1000",
            },
            None,
        )
        offers.issue_manual(
            db.session.get(Member, member_id), {"offer_id": offer.id}, None
        )
        db.session.commit()
    c = card(app, member_id)
    sign_in(page, base_url, key)
    scan(page, c.barcode)
    button = page.locator("#member-offers button.offer")
    expect(button).to_have_text("−15 % на всё")
    expect(button).to_have_attribute("aria-pressed", "false")
    page.fill("#amount", "999")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#offer-preview")).to_contain_text("нужен чек от")
    page.fill("#amount", "2 000")
    expect(page.locator("#offer-preview")).to_have_text(
        f"Скидка {money('300', 'ru')} · к оплате {money('1700', 'ru')}"
    )
    page.fill("#receipt", "A-18")
    page.click("#confirm")
    expect(page.locator("#message")).to_contain_text(
        f"Скидка {money('300', 'ru')}, оплачено {money('1700', 'ru')}."
    )
    with app.app_context():
        assert db.session.scalar(select(MemberOffer.status)) == "redeemed"
    assert transactions(app) == 1
    assert_ledger_matches_balances(app)


def test_new_customer_form_sends_the_card_link(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    from app.models import Member, OutboundMessage

    sign_in(page, base_url, key)
    page.click("#newcomer summary")
    page.fill("#signup-phone", "+7 916 555-44-33")
    page.fill("#signup-name", "Ирина Орлова")
    page.click("#signup-submit")
    expect(page.locator("#message")).to_have_text(
        "Спросите согласие покупателя и отметьте галочку."
    )
    page.check("#signup-consent")
    page.click("#signup-submit")
    expect(page.locator("#message")).to_have_text(
        "Ссылка на карту отправлена на +7 *** ***-44-33."
    )
    expect(page.locator("#signup-form")).to_be_hidden()
    with app.app_context():
        member_id = db.session.scalar(
            select(Member.id).where(Member.phone == "+79165554433")
        )
        assert member_id is not None
        assert db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.member_id == member_id)
        )


def test_selling_a_paid_membership_with_a_confirmation(
    app: Flask, demo: Demo, key: str, base_url: str, page: Page
) -> None:
    """A button per plan, a confirmation naming the price, one sale even when
    the answer is lost and the cashier confirms again; then a renewal."""
    from app.models import Member, MembershipSale, Program
    from app.services import memberships

    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for code, name, price in (("club", "Клуб", "990"), ("year", "Год", "9900")):
            body = {
                "code": code,
                "name": {"ru": name, "en": "Club"},
                "price": price,
                "period_days": 30,
            }
            memberships.create_plan(program, body, None)
        db.session.commit()
    seen_keys: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        seen_keys.append(route.request.headers["idempotency-key"])
        if len(seen_keys) == 1:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/pos/memberships", lose_the_first_answer)
    sign_in(page, base_url, key)
    c = card(app, demo.passes[0].member_id)
    scan(page, c.barcode)
    expect(page.locator("#member-membership")).to_have_text(
        "Клубного членства пока нет."
    )
    club = page.locator("#membership-plans button[data-plan=club]")
    expect(club).to_have_text(f"Клуб · {money(990, 'ru')}")
    club.click()
    expect(page.locator("#membership-question")).to_have_text(
        f"Принять {money(990, 'ru')} за «Клуб» (дней: 30)?"
    )
    # Cancelled: nothing sold.
    page.click("#membership-no")
    expect(page.locator("#membership-confirm")).to_be_hidden()
    club.click()
    page.click("#membership-yes")
    expect(page.locator("#message")).to_contain_text("Нет связи с сервером")
    page.click("#membership-yes")
    expect(page.locator("#message")).to_contain_text("«Клуб» действует до ")
    expect(page.locator("#message")).to_contain_text(f"Оплачено {money(990, 'ru')}.")
    assert len(seen_keys) == 2
    assert seen_keys[0] == seen_keys[1]
    with app.app_context():
        assert db.session.scalar(select(func.count(MembershipSale.id))) == 1
        first_end = db.session.get(Member, c.member_id).membership_ends_at
    # Held: that plan is offered as a renewal from the current end, the other
    # as a change with the unused period taken off its price.
    expect(page.locator("#member-membership")).to_contain_text("Клуб до ")
    expect(page.locator("#membership-plans button")).to_have_count(2)
    expect(page.locator("#membership-plans button[data-plan=year]")).to_have_text(
        f"Перейти на Год · {money(9900 - 990, 'ru')}"
    )
    renew = page.locator("#membership-plans button[data-plan=club]")
    expect(renew).to_have_text(f"Продлить Клуб · {money(990, 'ru')}")
    sold = page.locator("#message").text_content()
    renew.click()
    page.click("#membership-yes")
    # The new end date (30 days later) replaces the first answer.
    expect(page.locator("#message")).not_to_have_text(sold or "")
    expect(page.locator("#message")).to_contain_text("«Клуб» действует до ")
    with app.app_context():
        assert db.session.scalar(select(func.count(MembershipSale.id))) == 2
        ends = db.session.get(Member, c.member_id).membership_ends_at
    assert (ends - first_end).days == 30
    assert len(set(seen_keys)) == 2
    # Two unused periods now: the change costs 9900 less 1980, and says so.
    change = page.locator("#membership-plans button[data-plan=year]")
    expect(change).to_have_text(f"Перейти на Год · {money(9900 - 1980, 'ru')}")
    change.click()
    expect(page.locator("#membership-question")).to_have_text(
        f"Принять {money(7920, 'ru')} за «Год» (дней: 30)?"
    )
    page.click("#membership-yes")
    expect(page.locator("#message")).to_contain_text(f"Оплачено {money(7920, 'ru')}.")
    expect(page.locator("#member-membership")).to_contain_text("Год до ")
    with app.app_context():
        sale = db.session.scalars(
            select(MembershipSale).order_by(MembershipSale.id.desc())
        ).first()
        assert (sale.kind, sale.amount_kopecks) == ("change", 792000)
