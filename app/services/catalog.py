"""Products and back-in-stock subscriptions.

A member subscribes to a product (optionally a size and a store) from the card
page, by API or at the till. A restock (optionally of one size, in one store)
marks each matching waiting subscription `restocked` with a conditional UPDATE
(so two restocks cannot both take it) and delivers "Back in stock: ..." through
`messaging.deliver` with the source key `restock:<subscription id>`: once per
subscription. In quiet hours the message waits; the `restock` job sends it then.
The optional offer of the `back_in_stock` automation setting goes with the
message: one instance per subscription messaged (source `restock:<id>`), issued
for the whole send in one statement like the scheduled automations' offers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, func, or_, select, update

from app.extensions import db
from app.i18n import LANGUAGES, N_, text_in
from app.ids import is_id
from app.models import Member, Product, ProductSubscription, Program, Store
from app.models.base import utcnow
from app.models.catalog import CANCELLED, FULFILLED, RESTOCKED, WAITING
from app.services import automations, checks, messaging, offers
from app.services.errors import Conflict, NotFound
from app.services.scheduler import scheduled

_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SOURCES = ("card", "api", "pos")


def _now() -> datetime:
    return utcnow()


def product_view(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "sizes": product.sizes,
        "store_ids": product.store_ids,
    }


def subscription_view(sub: ProductSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "sku": sub.product.sku,
        "name": sub.product.name,
        "member_id": sub.member_id,
        "size": sub.size,
        "store_id": sub.store_id,
        "store": sub.store.name if sub.store else None,
        "source": sub.source,
        "status": sub.status,
        "created_at": sub.created_at.isoformat(),
    }


def get_product(program: Program, sku: str) -> Product:
    product = db.session.scalar(
        select(Product).where(Product.program_id == program.id, Product.sku == sku)
    )
    if product is None:
        raise NotFound("unknown_sku", f"No product with sku {sku!r}.")
    return product


def products(program: Program) -> list[Product]:
    return list(
        db.session.scalars(
            select(Product)
            .where(Product.program_id == program.id)
            .order_by(Product.sku)
        )
    )


def waiting_counts(program: Program) -> dict[int, int]:
    """product id -> subscriptions still waiting for it."""
    rows = db.session.execute(
        select(ProductSubscription.product_id, func.count())
        .where(
            ProductSubscription.program_id == program.id,
            ProductSubscription.status == WAITING,
        )
        .group_by(ProductSubscription.product_id)
    ).all()
    return {product_id: count for product_id, count in rows}


def subscriptions(
    product: Product, status: str = WAITING, limit: int = 1000
) -> list[ProductSubscription]:
    """The product's subscriptions in `status` ("all": any), oldest first."""
    query = select(ProductSubscription).where(
        ProductSubscription.product_id == product.id
    )
    if status != "all":
        query = query.where(ProductSubscription.status == status)
    return list(db.session.scalars(query.order_by(ProductSubscription.id).limit(limit)))


def _store_ids(program: Program, value: Any) -> list[int]:
    if not isinstance(value, list) or not all(is_id(v) for v in value):
        checks.fail("invalid_stores", "store_ids must be a list of store ids")
    known = set(
        db.session.scalars(
            select(Store.id).where(Store.program_id == program.id, Store.id.in_(value))
        )
    )
    if known != set(value):
        checks.fail("unknown_store", "store_ids name stores of another program")
    return sorted(known)


def create_product(program: Program, body: Any) -> Product:
    body = checks.mapping(body, "the body", "invalid_body")
    checks.known_keys(body, ("sku", "name", "sizes", "store_ids"))
    sku = body.get("sku")
    if not isinstance(sku, str) or not _SKU.match(sku):
        checks.fail("invalid_sku", "sku: 1-64 letters, digits, '.', '_' or '-'")
    name = body.get("name")
    if isinstance(name, str):
        name = {"ru": name}
    name = checks.localized(name, "name", "invalid_name", longest=80, multiline=False)
    sizes = body.get("sizes", [])
    if not isinstance(sizes, list) or len(sizes) > 50:
        checks.fail("invalid_sizes", "sizes: a list of at most 50 sizes")
    sizes = [
        checks.text(size, f"sizes[{i}]", "invalid_sizes", longest=20)
        for i, size in enumerate(sizes)
    ]
    if len(set(sizes)) != len(sizes):
        checks.fail("invalid_sizes", "sizes must be distinct")
    store_ids = _store_ids(program, body.get("store_ids", []))
    if db.session.scalar(
        select(Product.id).where(Product.program_id == program.id, Product.sku == sku)
    ):
        raise Conflict("sku_exists", f"A product with sku {sku!r} exists.")
    product = Product(
        program_id=program.id,
        sku=sku,
        name=name,
        sizes=sizes,
        store_ids=store_ids,
    )
    db.session.add(product)
    db.session.flush()
    return product


def _check_choice(
    product: Product, size: Any, store_id: Any
) -> tuple[str | None, int | None]:
    if size is not None and (not isinstance(size, str) or size not in product.sizes):
        checks.fail(
            "invalid_size", f"size must be one of: {', '.join(product.sizes) or 'none'}"
        )
    if store_id is not None:
        if not is_id(store_id):
            checks.fail("invalid_store", "store_id must be a store id")
        store = db.session.get(Store, store_id)
        if store is None or store.program_id != product.program_id or not store.active:
            checks.fail("unknown_store", "No such open store in this program.")
        if product.store_ids and store_id not in product.store_ids:
            checks.fail("invalid_store", "This store does not carry the product.")
    return size, store_id


class Subscribed(NamedTuple):
    subscription: ProductSubscription
    created: bool


def subscribe(
    member: Member, product: Product, size: Any, store_id: Any, source: str
) -> Subscribed:
    """The subscription and whether it is new: subscribing again to the same
    thing returns the waiting one."""
    size, store_id = _check_choice(product, size, store_id)
    if member.program_id != product.program_id or member.erased_at is not None:
        raise NotFound("unknown_member", "No such member in this program.")
    existing = db.session.scalar(
        select(ProductSubscription).where(
            ProductSubscription.member_id == member.id,
            ProductSubscription.product_id == product.id,
            ProductSubscription.status == WAITING,
            ProductSubscription.size.is_(None)
            if size is None
            else ProductSubscription.size == size,
            ProductSubscription.store_id.is_(None)
            if store_id is None
            else ProductSubscription.store_id == store_id,
        )
    )
    if existing is not None:
        return Subscribed(existing, False)
    sub = ProductSubscription(
        program_id=product.program_id,
        product=product,
        member_id=member.id,
        size=size,
        store_id=store_id,
        source=source,
        status=WAITING,
    )
    db.session.add(sub)
    db.session.flush()
    return Subscribed(sub, True)


def unsubscribe(sub: ProductSubscription) -> bool:
    """Cancel a waiting subscription; False if it was no longer waiting."""
    # An UPDATE's result is a CursorResult (Session.execute is typed Result).
    done = cast(
        CursorResult[Any],
        db.session.execute(
            update(ProductSubscription)
            .where(
                ProductSubscription.id == sub.id, ProductSubscription.status == WAITING
            )
            .values(status=CANCELLED, cancelled_at=_now())
            .execution_options(synchronize_session=False)
        ),
    )
    db.session.refresh(sub)
    return bool(done.rowcount)


def waiting(member: Member) -> list[ProductSubscription]:
    return list(
        db.session.scalars(
            select(ProductSubscription)
            .where(
                ProductSubscription.member_id == member.id,
                ProductSubscription.status == WAITING,
            )
            .order_by(ProductSubscription.id)
        )
    )


def message_texts(sub: ProductSubscription) -> dict[str, str]:
    """ "Back in stock: <name>, size <size> — at <store>" in ru and en."""
    name = sub.product.name
    size = sub.restock_size or sub.size
    store = sub.restock_store or sub.store
    if size and store:
        text = N_("Back in stock: {product}, size {size} — at {store}")
    elif size:
        text = N_("Back in stock: {product}, size {size}")
    elif store:
        text = N_("Back in stock: {product} — at {store}")
    else:
        text = N_("Back in stock: {product}")
    return {
        language: text_in(language, text).format(
            product=name.get(language) or name["ru"],
            size=size,
            store=store.name if store else "",
        )
        for language in LANGUAGES
    }


def restock(
    program: Program,
    product: Product,
    size: Any,
    store_id: Any,
    now: datetime | None = None,
) -> dict[str, int]:
    """Mark the matching waiting subscriptions restocked and send what may go now."""
    size, store_id = _check_choice(product, size, store_id)
    match = [
        ProductSubscription.product_id == product.id,
        ProductSubscription.status == WAITING,
    ]
    if size is not None:
        match.append(
            or_(ProductSubscription.size.is_(None), ProductSubscription.size == size)
        )
    if store_id is not None:
        match.append(
            or_(
                ProductSubscription.store_id.is_(None),
                ProductSubscription.store_id == store_id,
            )
        )
    ids = list(db.session.scalars(select(ProductSubscription.id).where(*match)))
    marked = 0
    if ids:
        marked = cast(
            CursorResult[Any],
            db.session.execute(
                update(ProductSubscription)
                .where(
                    ProductSubscription.id.in_(ids),
                    ProductSubscription.status == WAITING,
                )
                .values(
                    status=RESTOCKED,
                    restock_size=size,
                    restock_store_id=store_id,
                    restocked_at=_now(),
                )
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
    sent = send_restocked(program, now or utcnow(), product_id=product.id)
    return {
        "matched": marked,
        "sent": sent,
        "waiting": marked - sent,
    }


def send_restocked(
    program: Program, now: datetime, product_id: int | None = None
) -> int:
    """Deliver restocked subscriptions' messages unless it is quiet now."""
    if messaging.is_quiet(program, now):
        return 0
    query = select(ProductSubscription).where(
        ProductSubscription.program_id == program.id,
        ProductSubscription.status == RESTOCKED,
    )
    if product_id is not None:
        query = query.where(ProductSubscription.product_id == product_id)
    sent = 0
    reached: dict[int, str] = {}
    today = now.astimezone(messaging.ZoneInfo(program.timezone)).date()
    for sub in db.session.scalars(
        query.order_by(ProductSubscription.id).limit(5000)
    ).all():
        taken = cast(
            CursorResult[Any],
            db.session.execute(
                update(ProductSubscription)
                .where(
                    ProductSubscription.id == sub.id,
                    ProductSubscription.status == RESTOCKED,
                )
                .values(status=FULFILLED, fulfilled_at=_now())
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if not taken:
            continue
        member = sub.member
        if messaging.deliver(
            member,
            kind="back_in_stock",
            source_key=f"restock:{sub.id}",
            texts=message_texts(sub),
            on=today,
        ):
            sent += 1
            # One offer per member per send: two subscriptions restocked
            # together bring one offer (the first's source), not two alike.
            reached.setdefault(member.id, f"restock:{sub.id}")
    offer = automations.event_offer(program, "back_in_stock", now)
    if offer is not None and reached:
        offers.issue_each(
            offer,
            reached,
            source_kind="automation",
            source_ref="back_in_stock",
            now=now,
        )
    return sent


@scheduled("restock")
def restock_job(now: datetime) -> None:
    """Send restock messages that waited for the quiet hours to end."""
    pending = select(ProductSubscription.program_id).where(
        ProductSubscription.status == RESTOCKED
    )
    for program in db.session.scalars(select(Program).where(Program.id.in_(pending))):
        send_restocked(program, now)
        db.session.commit()
