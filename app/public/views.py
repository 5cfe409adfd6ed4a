"""Sign-up form, card page and the card's .pkpass download."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

import passes
from app.database import writes, writes_when
from app.extensions import db, limiter
from app.i18n import (
    MESSAGES,
    STAMPS_LEFT,
    date_text,
    pick_language,
    plural,
    translate,
)
from app.models import LedgerEntry, Member, Offer, ProductSubscription, Program
from app.security import pages_limit, signup_limit
from app.services import (
    catalog,
    google_wallet,
    membership_rules,
    offers,
    outbound,
    profile,
    referrals,
)
from app.services import passes as pass_service
from app.services import signup as signup_service
from app.services import stamps as stamp_cards
from app.services.errors import DomainError
from app.services.privacy import erase_member, export_member
from app.services.profile import points_on_offer
from app.services.signup import (
    find_member,
    parse_phone,
    program_cities,
    sign_up,
    validate_signup,
)
from app.wallet.views import PKPASS_MIMETYPE

bp = Blueprint("public", __name__)
limiter.limit(pages_limit)(bp)

# Fields of the sign-up form that are not sign-up data (not carried along).
_NOT_DATA = ("csrf_token", "code", "resend")


def lost_card_limit() -> str:
    return str(current_app.config["RATELIMIT_LOST_CARD"])


def _program(slug: str | None) -> Program:
    query = select(Program)
    slug = slug or current_app.config.get("DEFAULT_PROGRAM")
    query = query.where(Program.slug == slug) if slug else query.order_by(Program.id)
    program = db.session.scalars(query.limit(1)).first()
    if program is None:
        abort(404)
    return program


def _member(card_token: str) -> Member:
    member = db.session.scalar(
        select(Member).where(
            Member.card_token == card_token, Member.erased_at.is_(None)
        )
    )
    if member is None:
        abort(404)
    return member


def page(
    template: str, language: str, status: int = 200, **context: Any
) -> tuple[str, int]:
    """Render a public page in `language`: every template reads `lang` and `t`."""
    return render_template(
        template,
        lang=language,
        t=lambda key, **kw: translate(key, language, **kw),
        **context,
    ), status


def _render_join(
    program: Program,
    language: str,
    data: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> tuple[str, int]:
    return page(
        "public/join.html",
        language,
        status,
        program=program,
        data=data,
        errors=errors,
        stores=[s for s in program.stores if s.active],
        cities=program_cities(program),
        consent_version=current_app.config["CONSENT_VERSION"],
        welcome_bonus=int(program.rule("welcome_bonus") or 0),
    )


@bp.get("/")
def index() -> BaseResponse:
    """The front page is the sign-up form."""
    return redirect(url_for("public.join"))


@bp.route("/join", methods=["GET", "POST"])
@bp.route("/join/<slug>", methods=["GET", "POST"])
@limiter.limit(signup_limit, methods=["POST"])
# A friend's share link (?ref=) counts as an opened invite: only then a writer.
@writes_when(lambda: bool(request.args.get("ref")))
def join(slug: str | None = None) -> BaseResponse | tuple[str, int]:
    """Sign-up form; a new phone gets its card at once (after an SMS code when the
    program asks for one). A phone that has a card gets its link by SMS/e-mail,
    and the page shows nothing of that card."""
    program = _program(slug)
    language = pick_language()
    if request.method == "GET":
        data = {"language": language}
        referrer = referrals.resolve(program, request.args.get("ref"))
        if referrer is not None:
            referrals.record_open(referrer)
            data["ref"] = request.args.get("ref", "").strip().lower()
        response = _render_join(program, language, data, {})
        db.session.commit()
        return response
    data = {k: v for k, v in request.form.items() if k not in _NOT_DATA}
    form = validate_signup(program, data)
    if form.errors:
        return _render_join(program, language, data, form.errors, status=422)
    existing = find_member(program, form.phone)
    if existing is not None:
        return _link_sent(existing, program, language, form.phone)
    if signup_service.otp_required(program):
        code = request.form.get("code")
        if code is None or request.form.get("resend"):
            signup_service.issue_code(program, form.phone, language)
            db.session.commit()
            return _render_code(program, language, data, form.phone)
        result = signup_service.check_code(program, form.phone, code)
        if result != signup_service.CODE_OK:
            db.session.commit()  # the spent attempt counts
            return _render_code(
                program, language, data, form.phone, f"otp.{result}", 422
            )
    member, created = sign_up(program, form, current_app.config["CONSENT_VERSION"])
    if not created:  # signed up a moment ago by another request
        db.session.rollback()
        return _link_sent(
            find_member(program, form.phone), program, language, form.phone
        )
    # A friend's share link: recorded once, refused quietly when it does not count.
    referrals.record_signup(
        program, referrals.resolve(program, data.get("ref")), member
    )
    db.session.commit()
    return redirect(url_for("public.card", card_token=member.card_token), code=303)


def _link_sent(
    member: Member | None, program: Program, language: str, phone: str
) -> tuple[str, int]:
    """Queue the card's link (within the hourly limit) and say where it went; the
    page is the same whether anything was sent, and carries nothing of the card."""
    if member is not None:
        outbound.send_card_link(member)
    db.session.commit()
    return page(
        "public/link_sent.html",
        language,
        program=program,
        masked_phone=outbound.mask_phone(phone),
        email_enabled=outbound.email_enabled(),
    )


def _render_code(
    program: Program,
    language: str,
    data: dict[str, str],
    phone: str,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return page(
        "public/join_code.html",
        language,
        status,
        program=program,
        data=data,
        masked_phone=outbound.mask_phone(phone),
        error=error,
    )


@bp.route("/lost-card", methods=["GET", "POST"])
@bp.route("/lost-card/<slug>", methods=["GET", "POST"])
@limiter.limit(lost_card_limit, methods=["POST"])
def lost_card(slug: str | None = None) -> tuple[str, int]:
    """«Потеряли карту?»: the card's link goes to the phone (and e-mail) it was
    issued for; the answer is the same whether the phone has a card or not."""
    program = _program(slug)
    language = pick_language()
    phone = request.form.get("phone", "")
    error = None
    if request.method == "POST":
        number = parse_phone(phone)
        if number is not None:
            return _link_sent(find_member(program, number), program, language, number)
        error = "error.phone"
    return _render_lost(program, language, phone, error, 422 if error else 200)


def _render_lost(
    program: Program, language: str, phone: str, error: str | None, status: int
) -> tuple[str, int]:
    return page(
        "public/lost.html",
        language,
        status,
        program=program,
        phone=phone,
        error=error,
    )


@bp.errorhandler(CSRFError)
def csrf_expired(error: CSRFError) -> tuple[str, int]:
    """An expired or missing form token: show the form again, nothing saved."""
    program = _program(request.view_args.get("slug") if request.view_args else None)
    language = pick_language()
    if request.endpoint == "public.feedback_answer":
        from app.public.feedback import expired_form

        return expired_form()
    if request.endpoint == "public.lost_card":
        return _render_lost(
            program, language, request.form.get("phone", ""), "error.csrf", 400
        )
    data = {key: value for key, value in request.form.items() if key != "csrf_token"}
    return _render_join(program, language, data, {"form": "error.csrf"}, status=400)


# Where Google Wallet is not offered: Android customers add the .pkpass through a
# reader app (WalletPasses and the like) instead; no Google button is shown.
NO_GOOGLE_WALLET = frozenset({"RU", "BY"})


def _platform() -> str:
    """'ios', 'android' or 'desktop', from the User-Agent (only to pick what the
    card page shows first; every way stays reachable)."""
    agent = request.user_agent.string
    if "Android" in agent:
        return "android"
    if any(name in agent for name in ("iPhone", "iPad", "iPod")):
        return "ios"
    return "desktop"


def _history(member: Member) -> list[LedgerEntry]:
    """The member's latest points movements, newest first."""
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.member_id == member.id)
            .order_by(LedgerEntry.id.desc())
            .limit(30)
        )
    )


def _render_card(
    member: Member,
    errors: dict[str, str] | None = None,
    status: int = 200,
    profile: dict[str, str] | None = None,
) -> tuple[str, int]:
    card_token = member.card_token
    language = pick_language(request.args.get("lang") or member.language)
    page_url = pass_service.public_url(url_for("public.card", card_token=card_token))
    qr_svg = segno.make(page_url, error="m").svg_inline(scale=4, dark="#111")
    return page(
        "public/card.html",
        language,
        status,
        member=member,
        program=member.program,
        card_number=passes.format_card_number(member.card_number),
        tier=member.program.tier_name(member.tier, language),
        qr_svg=qr_svg,
        new_link=request.args.get("new_link") == "1",
        errors=errors or {},
        google_enabled=google_wallet.enabled(),
        products=catalog.products(member.program),
        subscriptions=catalog.waiting(member),
        stores=[s for s in member.program.stores if s.active],
        offers=_card_offers(member, language),
        platform=_platform(),
        google_available=member.program.country not in NO_GOOGLE_WALLET,
        history=_history(member),
        history_label=lambda kind: (
            translate(f"history.{kind}", language)
            if f"history.{kind}" in MESSAGES
            else kind
        ),
        profile=profile,
        profile_saved=request.args.get("saved") == "1",
        profile_points=points_on_offer(member),
        stamps=_card_stamps(member, language),
        share=_card_share(member),
        membership=_card_membership(member, language),
    )


def _card_share(member: Member) -> dict[str, str] | None:
    """The member's share link and its QR when the program runs referrals."""
    if referrals.settings(member.program) is None:
        return None
    url = pass_service.public_url(
        url_for("public.join", slug=member.program.slug, ref=referrals.code_for(member))
    )
    return {"url": url, "qr": segno.make(url, error="m").svg_inline(scale=3)}


def _card_membership(member: Member, language: str) -> dict[str, Any] | None:
    """The paid membership as the pass shows it: plan, last day, perks."""
    held = membership_rules.member_view(member)
    if held is None:
        return None
    zone = ZoneInfo(member.program.timezone)
    last = datetime.fromisoformat(held["ends_at"]).astimezone(zone).date()
    plan = passes.pick(held["plan"]["name"], language)
    bonus = held["earn_bonus_percent"]
    return {
        "title": translate(
            "card.membership_until", language, plan=plan, date=date_text(last, language)
        ),
        "bonus": translate("card.membership_bonus", language, percent=bonus)
        if bonus
        else "",
        "perks": [passes.pick(p, language) for p in held["perks"]],
    }


def _card_stamps(member: Member, language: str) -> dict[str, str] | None:
    """The stamp card as the pass shows it, with how many are left and the gift."""
    setting = stamp_cards.settings(member.program)
    if setting is None:
        return None
    target = int(setting["target"])
    count = max(0, min(member.stamps, target))
    gift = ""
    offer = db.session.get(Offer, setting.get("reward_offer_id") or 0)
    if offer is not None and offer.program_id == member.program_id:
        gift = translate(
            "card.stamps_gift", language, title=passes.pick(offer.title, language)
        )
    return {
        "dots": "●" * count + "○" * (target - count),
        "count": translate("card.stamps_count", language, n=count, total=target),
        "left": plural(language, *STAMPS_LEFT, target - count),
        "gift": gift,
    }


def _card_offers(member: Member, language: str) -> list[dict[str, str]]:
    """The member's usable offers with their terms and expiry date."""
    zone = ZoneInfo(member.program.timezone)
    return [
        {
            "title": passes.pick(held.title, language),
            "terms": passes.pick(held.terms, language) if held.terms else "",
            "until": translate(
                "card.offer_until",
                language,
                date=date_text(held.expires_at.astimezone(zone).date(), language),
            )
            if held.expires_at is not None
            else "",
        }
        for held in offers.active(member.id)
    ]


@bp.get("/c/<card_token>")
def card(card_token: str) -> tuple[str, int]:
    """The member's card: wallet buttons, QR to open on a phone, balance, privacy."""
    return _render_card(_member(card_token))


@bp.get("/c/<card_token>/data.json")
def card_data(card_token: str) -> BaseResponse:
    """Download my data: everything held about the member, as JSON."""
    # Readable as it is: indented, UTF-8 letters rather than \u escapes.
    body = json.dumps(export_member(_member(card_token)), ensure_ascii=False, indent=2)
    response = Response(body + "\n", content_type="application/json; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


@bp.post("/c/<card_token>/profile")
def card_profile(card_token: str) -> BaseResponse | tuple[str, int]:
    """The customer's own changes: name, e-mail, birthday once, home store, offers."""
    member = _member(card_token)
    data = {key: value for key, value in request.form.items() if key != "csrf_token"}
    change = profile.check(member, data)
    if change.errors:
        return _render_card(member, change.errors, 422, profile=data)
    profile.apply(member, change)
    db.session.commit()
    target = url_for(
        "public.card",
        card_token=member.card_token,
        lang=request.args.get("lang"),
        saved=1,
    )
    return redirect(target + "#profile", code=303)


@bp.get("/programs/<slug>/terms")
def program_terms(slug: str) -> tuple[str, int]:
    """The programme terms (texts per program, /admin settings)."""
    return _program_text(slug, "terms")


@bp.get("/programs/<slug>/privacy")
def program_privacy(slug: str) -> tuple[str, int]:
    """The privacy policy (texts per program, /admin settings)."""
    return _program_text(slug, "privacy")


def _program_text(slug: str, which: str) -> tuple[str, int]:
    program = _program(slug)
    language = pick_language()
    texts = (program.texts or {}).get(which) or {}
    text = texts.get(language) or texts.get("ru") or ""
    return page(
        "public/program_text.html",
        language,
        program=program,
        which=which,
        text=text,
    )


@bp.post("/c/<card_token>/erase")
def card_erase(card_token: str) -> BaseResponse | tuple[str, int]:
    """Erase me: needs the confirmation box ticked; then the card is gone."""
    member = _member(card_token)
    if request.form.get("confirm") != "yes":
        return _render_card(member, {"erase": "card.erase_confirm_needed"}, 422)
    language = member.language
    erase_member(member)
    db.session.commit()
    return redirect(url_for("public.erased", lang=language), code=303)


@bp.post("/c/<card_token>/new-link")
def card_new_link(card_token: str) -> BaseResponse:
    """«Выпустить новую ссылку»: the old link stops working, the pass follows."""
    member = _member(card_token)
    signup_service.new_card_link(member)
    db.session.commit()
    return redirect(
        url_for(
            "public.card",
            card_token=member.card_token,
            new_link=1,
            lang=request.args.get("lang"),
        ),
        code=303,
    )


@bp.post("/c/<card_token>/subscriptions")
def card_subscribe(card_token: str) -> BaseResponse | tuple[str, int]:
    """Back in stock: wait for a product (size, store) from the card page."""
    member = _member(card_token)
    store = request.form.get("store_id") or None
    try:
        product = catalog.get_product(member.program, request.form.get("sku", ""))
        catalog.subscribe(
            member,
            product,
            request.form.get("size") or None,
            int(store) if store and store.isascii() and store.isdigit() else store,
            "card",
        )
    except DomainError:
        db.session.rollback()
        return _render_card(member, {"stock": "stock.invalid"}, 422)
    db.session.commit()
    return redirect(_card_url(member) + "#back-in-stock", code=303)


@bp.post("/c/<card_token>/subscriptions/<int:subscription_id>/delete")
def card_unsubscribe(card_token: str, subscription_id: int) -> BaseResponse:
    """Stop waiting for a product."""
    member = _member(card_token)
    sub = db.session.get(ProductSubscription, subscription_id)
    if sub is None or sub.member_id != member.id:
        abort(404)
    catalog.unsubscribe(sub)
    db.session.commit()
    return redirect(_card_url(member) + "#back-in-stock", code=303)


def _card_url(member: Member) -> str:
    lang = request.args.get("lang")
    return url_for("public.card", card_token=member.card_token, lang=lang)


@bp.get("/erased")
def erased() -> tuple[str, int]:
    """Shown once after erasure; it carries nothing personal."""
    language = pick_language()
    return page(
        "public/erased.html",
        language,
    )


@bp.get("/c/<card_token>/pass.pkpass")
def card_pkpass(card_token: str) -> BaseResponse:
    """The signed Apple Wallet pass (also opens in Android .pkpass apps)."""
    pass_ = pass_service.pass_for_member(_member(card_token))
    if pass_ is None:
        abort(404)
    response = Response(pass_service.build_pkpass(pass_), mimetype=PKPASS_MIMETYPE)
    response.headers["Content-Disposition"] = 'attachment; filename="card.pkpass"'
    response.headers["Cache-Control"] = "no-store"
    response.last_modified = pass_.updated_at
    return response


@bp.get("/c/<card_token>/google")
@writes  # inserts the Google object after the REST calls
def card_google(card_token: str) -> BaseResponse | tuple[str, int]:
    """Insert the class and object over REST, then redirect to the Save link."""
    if not google_wallet.enabled():
        abort(404)
    member = _member(card_token)
    language = pick_language(request.args.get("lang") or member.language)
    try:
        url = google_wallet.save_link(member)
    except google_wallet.GoogleApiError as error:
        db.session.rollback()
        # The operator needs the reason (permission, quota); the customer does not.
        current_app.logger.error("Google Wallet save link failed: %s", error)
        return page(
            "public/google_error.html",
            language,
            503,
            member=member,
        )
    db.session.commit()
    response = redirect(url, code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/programs/<slug>/logo.png")
def program_logo(slug: str) -> BaseResponse:
    """The program's logo as a public image (Google Wallet fetches it by URL)."""
    program = db.session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        abort(404)
    design = pass_service.program_view(program).design
    response = Response(passes.render_logo(design), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.add_etag()
    return response.make_conditional(request)
