"""Texts of /admin/imports: key -> English msgid (Russian in the catalog)."""

from __future__ import annotations

from app.i18n import N_, TextSource, catalogue

# --- integration: member import page ---
TEXTS: dict[str, TextSource] = {
    "nav": N_("Import"),
    "title": N_("Member import"),
    "choose": N_("Choose a program"),
    "lead": N_(
        "A CSV file saved from Excel («CSV UTF-8»), separated by ; or , with the "
        "column names in the first line: phone, name, e-mail, birthday, old card "
        "number, opening balance, tier, consent date. A member is found by phone: "
        "importing the same file again changes nothing."
    ),
    "file": N_("CSV file"),
    "dry_run": N_("Check only (change nothing)"),
    "invite": N_(
        "Then send each new member their card link by SMS (outside quiet hours)"
    ),
    "submit": N_("Import"),
    "sending": N_("Uploading…"),
    "failed_upload": N_("The file was not accepted:"),
    "recent": N_("Recent imports"),
    "none": N_("No imports yet."),
    "when": N_("When"),
    "file_name": N_("File"),
    "status": N_("Status"),
    "progress": N_("Progress"),
    "created": N_("New"),
    "updated": N_("Updated"),
    "unchanged": N_("Unchanged"),
    "failed": N_("Bad rows"),
    "check": N_("check"),
    "status.queued": N_("queued"),
    "status.running": N_("running"),
    "status.done": N_("done"),
    "status.failed": N_("failed"),
    "errors": N_("Bad rows (the first 100)"),
    "line": N_("Line"),
    "reason": N_("Reason"),
    "error.not_utf8": N_("The file is not UTF-8: save it from Excel as «CSV UTF-8»."),
    "error.no_phone_column": N_(
        "The first line must name the columns, one of them the phone."
    ),
    "error.empty_file": N_("The file is empty."),
    "error.too_large": N_("The file is too large."),
    "error.other": N_("Something went wrong; try again."),
}


def texts(language: str) -> dict[str, str]:
    return catalogue(TEXTS, language)
