"""The e-mails of joining online, rendered at send time from templates (participants/templates/messages/
<kind>/subject.txt, body.txt, body.html) in the person's language: the verification link (minted now;
only its hash is kept) and the copy of the signed consent (a PDF). Registered in assessments.apps: this
app owns the crisis resources they carry."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format

from assessments.crisis import crisis_resources_for
from participants.consent_pdf import consent_copy_filename, consent_copy_pdf
from participants.messaging import Attachment, Rendered, Skip
from participants.models import JoinApplication, JoinStatus, OutboxMessage
from participants.services.joining import CONSENT_COPY_KIND, VERIFY_KIND, verification_link_create


def _render(kind: str, application: JoinApplication, context: dict[str, Any]) -> tuple[str, str, str]:
    language = application.language
    with translation.override(language), timezone.override(ZoneInfo(application.timezone)):
        full = {
            "language": language,
            "study_name": application.trial.public_text(language)["name"],
            "first_name": application.full_name.split()[0] if application.full_name.split() else "",
            "crisis_resources": crisis_resources_for(application.trial),
            **context,
        }
        subject = " ".join(render_to_string(f"messages/{kind}/subject.txt", full).split())
        body = render_to_string(f"messages/{kind}/body.txt", full)
        html = render_to_string(f"messages/{kind}/body.html", full)
    return subject, body, html


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
    subject, body, html = _render(VERIFY_KIND, application, {"url": url, "expires_at": until})
    return Rendered(to=application.email, subject=subject, body=body, html=html)


def render_consent_copy(message: OutboxMessage) -> Rendered | Skip:
    application = _application(message)
    if application is None:
        return Skip("The application no longer exists.")
    context = {"enrolled": application.status == JoinStatus.ENROLLED}
    subject, body, html = _render(CONSENT_COPY_KIND, application, context)
    pdf = Attachment(consent_copy_filename(application), consent_copy_pdf(application), "application/pdf")
    return Rendered(to=application.email, subject=subject, body=body, html=html, attachments=(pdf,))
