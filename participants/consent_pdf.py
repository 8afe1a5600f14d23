"""The PDF copy of a consent signed online: the document's title, version and text, each statement with
the person's answer, the typed name, when it was signed (in the person's timezone) and the SHA-256 of the
canonical signed record (participants.services.joining.signed_record), which staff can verify.

Made with WeasyPrint from an HTML template (participants/templates/consent/copy.html) in the person's
language, with Debian's DejaVu fonts (which cover Spanish and most Latin, Greek and Cyrillic text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils import timezone, translation

from participants.models import JoinApplication
from participants.services.joining import signed_record

STYLE = Path(__file__).resolve().parent / "consent_copy.css"


def consent_copy_html(application: JoinApplication) -> str:
    record = signed_record(application)
    wording = application.document.in_language(application.language) or {
        "title": application.document.title,
        "text": application.document.text,
    }
    context: dict[str, Any] = {
        "language": application.language,
        "study_name": application.trial.public_text(application.language)["name"],
        "wording": wording,
        "version": application.document.version,
        "statements": record["statements"],
        "signed_name": application.signed_name,
        "signed_at": application.signed_at,
        "verified_at": application.verified_at,
        "timezone_name": application.timezone,
        "record_hash": application.record_hash,
    }
    with translation.override(application.language), timezone.override(ZoneInfo(application.timezone)):
        return render_to_string("consent/copy.html", context)


def consent_copy_pdf(application: JoinApplication) -> bytes:
    from weasyprint import CSS, HTML  # imported when used: it loads Pango at import

    pdf = HTML(string=consent_copy_html(application)).write_pdf(stylesheets=[CSS(filename=str(STYLE))])
    assert isinstance(pdf, bytes)
    return pdf


def consent_copy_filename(application: JoinApplication) -> str:
    return f"consent-{application.trial.slug}-v{application.document.version}.pdf"
