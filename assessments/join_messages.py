"""The e-mails of joining online, written at send time in the person's language and timezone from the
message templates (participants/message_templates.py; defaults in participants/templates/messages/<kind>/,
a trial's own approved wording through the admin): the verification link (minted now; only its hash is
kept) and the copy of the signed consent (a PDF). Registered in assessments.apps, which owns the crisis
resources every message carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone, translation
from django.utils.formats import date_format

from participants.consent_pdf import consent_copy_filename, consent_copy_pdf
from participants.message_templates import MessageParts, register_template_kind, render_message
from participants.messaging import Attachment, Rendered, Skip
from participants.models import JoinApplication, JoinStatus, OutboxMessage
from participants.services.joining import CONSENT_COPY_KIND, VERIFY_KIND, verification_link_create


def _render(kind: str, application: JoinApplication, context: dict[str, Any]) -> MessageParts:
    first_name = (application.full_name.split() or [""])[0]
    return render_message(
        kind,
        trial=application.trial,
        language=application.language,
        timezone=application.timezone,
        context={"first_name": first_name, **context},
    )


def _application(message: OutboxMessage) -> JoinApplication | None:
    return (
        JoinApplication.objects.select_related("trial", "document")
        .filter(pk=message.context.get("application"))
        .first()
    )


def render_verification(message: OutboxMessage) -> Rendered | Skip:
    application = _application(message)
    if application is None:
        return Skip("The application no longer exists.")
    if application.status != JoinStatus.PENDING:
        return Skip("The e-mail address was verified already.")
    url, expires = verification_link_create(application=application)
    with timezone.override(ZoneInfo(application.timezone)), translation.override(application.language):
        until = date_format(timezone.localtime(expires), "DATETIME_FORMAT")
    parts = _render(VERIFY_KIND, application, {"url": url, "expires_at": until})
    return Rendered(to=application.email, subject=parts.subject, body=parts.text, html=parts.html)


def render_consent_copy(message: OutboxMessage) -> Rendered | Skip:
    application = _application(message)
    if application is None:
        return Skip("The application no longer exists.")
    parts = _render(CONSENT_COPY_KIND, application, {"enrolled": application.status == JoinStatus.ENROLLED})
    pdf = Attachment(consent_copy_filename(application), consent_copy_pdf(application), "application/pdf")
    return Rendered(to=application.email, subject=parts.subject, body=parts.text, html=parts.html, attachments=(pdf,))


def _verify_sample() -> dict[str, Any]:
    expires = datetime(2026, 12, 12, 15, 30, tzinfo=ZoneInfo("UTC"))
    return {
        "first_name": "Alex",
        "url": "https://study.example.org/join/verify/SAMPLE-LINK-NOT-REAL/",
        "expires_at": date_format(timezone.localtime(expires), "DATETIME_FORMAT"),
    }


def register_message_templates() -> None:
    register_template_kind(
        VERIFY_KIND,
        description="Joining online: the link that confirms the person's e-mail address (nothing is recorded "
        "until it is opened).",
        sample_context=_verify_sample,
    )
    register_template_kind(
        CONSENT_COPY_KIND,
        description="Joining online: the copy of the signed consent form, attached as a PDF.",
        sample_context=lambda: {"first_name": "Alex", "enrolled": True},
    )
