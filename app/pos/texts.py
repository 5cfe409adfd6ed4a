"""Texts of the cashier page: key -> English msgid (the page's JS gets them too)."""

from __future__ import annotations

from app.i18n import N_, NC_, TextSource

TEXTS: dict[str, TextSource] = {
    "title": N_("Till"),
    "signin.lead": N_("Sign in with the store key. It stays in this browser tab only."),
    "signin.key": N_("Store key"),
    "signin.submit": NC_("signin.submit", "Sign in"),
    "signin.bad": N_("That key did not work: check it or ask for a new one."),
    "signout": N_("Sign out"),
    "scan.label": N_("Scan the card or type its number and press Enter"),
    "scan.camera": N_("Camera"),
    "scan.camera_stop": N_("Close camera"),
    "scan.camera_failed": N_(
        "The camera is not available. Use the scanner or type the number."
    ),
    "member.balance": N_("Points"),
    "member.tier": N_("Tier"),
    "member.card": N_("Card"),
    "member.offers": N_("Offers"),
    "member.back_in_stock": N_("Waiting for restock"),
    "member.typed": N_(
        "Number typed by hand: points can be redeemed only with the barcode."
    ),
    "form.amount": N_("Receipt total, RUB"),
    "form.receipt": N_("Receipt number"),
    "form.redeem": N_("Points to redeem"),
    "form.redeem_max": N_("Points to redeem (at most {max})"),
    "form.submit": N_("Confirm"),
    "form.cancel": NC_("form.cancel", "Cancel"),
    "result.done": N_(
        "Done: earned {earned}, redeemed {redeemed}. Balance: {balance}."
    ),
    "result.upgraded": N_("New tier: {tier}!"),
    "recent.title": N_("Recent purchases"),
    "recent.empty": N_("No purchases yet."),
    "recent.refund": N_("Refund"),
    "recent.refunded": N_("refunded"),
    "recent.confirm_refund": N_("Reverse the points of receipt {receipt}?"),
    "refund.done": N_("Refund done. Balance: {balance}."),
    "error.card_closed": N_(
        "This card is closed: the member left the program or the card was "
        "withdrawn. It can no longer earn or pay with points."
    ),
    "error.unknown_card": N_("Card not found. Scan again or check the number."),
    "error.other_program": N_("This card belongs to another loyalty program."),
    "error.other_store": N_(
        "This purchase was made in another store: refund it there."
    ),
    "error.insufficient_points": N_("Not enough points: the card has {balance}."),
    "error.redeem_limit": N_("At most {max} points can pay for this receipt."),
    "error.barcode_required": N_("To redeem points, scan the card's barcode."),
    "error.invalid_amount": N_("Enter a receipt total above zero, e.g. 1499.90."),
    "error.invalid_receipt_id": N_("Enter the receipt number."),
    "error.invalid_redeem_points": N_("Points must be a whole number, zero or more."),
    "error.idempotency_key_reused": N_(
        "The previous attempt went through with other details. Check the recent "
        "purchases."
    ),
    "error.network": N_(
        "No connection to the server. Press Confirm again: a retry never charges twice."
    ),
    "error.network_scan": N_("No connection to the server. Please try again."),
    "error.unauthorized": N_("The key is no longer valid. Please sign in again."),
    "error.other": N_("That did not work: {message}"),
    # --- premium: selling a paid membership ---
    "membership.title": N_("Paid membership"),
    "membership.holds": N_("{plan} until {until}"),
    "membership.none": N_("No membership yet."),
    "membership.sell": N_("{plan} · {price}"),
    "membership.renew": N_("Renew {plan} · {price}"),
    "membership.change": N_("Change to {plan} · {price}"),
    "membership.confirm": N_("Take {price} for «{plan}» ({days} days)?"),
    "membership.confirm_button": N_("Payment taken: activate"),
    "membership.done": N_("«{plan}» is active until {until}. Paid {price}."),
    "error.unknown_plan": N_("This plan is not on sale any more."),
    # --- offers ---
    "offer.preview": N_("Discount {discount} · to pay {pay}"),
    "offer.below_minimum": N_("“{title}” needs a receipt of at least {min}."),
    "result.discount": N_("Discount {discount}, paid {paid}."),
    "error.offer_used": N_("This offer was already used."),
    "error.offer_expired": N_("This offer has expired."),
    "error.offer_not_yours": N_("This offer belongs to another member."),
    "error.unknown_offer": N_("This offer is not valid here."),
    "error.offer_below_minimum": N_("The receipt is below this offer's minimum."),
    "error.offer_not_combinable": N_("These offers cannot be combined."),
    "error.offer_not_started": N_("This offer is not valid yet."),
    # --- integration: sign-up at the till ---
    "signup.title": N_("New customer"),
    "signup.phone": N_("Customer's phone"),
    "signup.name": NC_("field.name", "Name"),
    "signup.email": N_("E-mail (optional)"),
    "signup.consent": N_(
        "The customer agrees to the program's rules and the processing of their data"
    ),
    "signup.submit": N_("Send the card link"),
    "signup.sent": N_("The card link was sent to {phone}."),
    "error.consent_required": N_("Ask the customer for consent and tick the box."),
    "error.invalid_member": N_("Check the phone number and the name."),
}
