"""Joining a trial online: self-screening, e-consent, e-mail verification, then enrollment or review.

The join pages (assessments/join.py) ask; these services decide and write. Nothing a person joining gives
is recorded as research data before their e-mail address is verified, except an ineligible screening
(recorded at once with its reasons, as staff screenings are). ``join_apply`` keeps an eligible person's
answers, signed consent and contact details in a JoinApplication and queues the verification e-mail;
``join_verify`` (the link in it: single use, expiring after ``JOIN_VERIFY_HOURS``) records the screening
and the consent with the same services staff use, then enrolls (``online_joining = automatic``) or leaves
the person to a coordinator's review (``review``). A person whose verified address was screened before is
recognised by its hash and recorded once.

The link's token is made when the e-mail is rendered (like a questionnaire link), stored hashed, and never
written to a log. What was signed is kept as a canonical record whose SHA-256 is printed on the copy the
person receives, so staff can check a copy against what is stored (``consent_hash_verify``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from participants.messaging import outbox_enqueue
from participants.models import ContactChannels, ContactDetails, JoinApplication, JoinStatus, Participant, Status
from participants.models.joining import VERIFIED
from participants.services.enrollment import (
    ContactInput,
    participant_consent,
    participant_enroll,
    participant_screen,
    screening_assess,
)
from participants.services.lifecycle import participant_withdraw
from trial import clock
from trial.audit import Actor, actor_user, audit_record
from trial.errors import Conflict, DomainError
from trial.models import ConsentDocument, OnlineJoining, Site, Trial, TrialStatus

VERIFY_KIND = "join_verify_email"
CONSENT_COPY_KIND = "consent_copy"


def joining_open(trial: Trial) -> bool:
    """Whether people may join the trial online now (never a simulated trial: its people are fictional)."""
    return trial.status == TrialStatus.RECRUITING and trial.online_joining != OnlineJoining.OFF and not trial.simulated


def require_joining_open(trial: Trial) -> None:
    if not joining_open(trial):
        raise DomainError(f"Trial {trial.slug} does not take people joining online now.", code="not_open")


def current_document(trial: Trial) -> ConsentDocument | None:
    return ConsentDocument.objects.filter(trial=trial).order_by("-published_at", "-id").first()


def email_normalized(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(email_normalized(email).encode()).hexdigest()


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# The signed record and its hash
# --------------------------------------------------------------------------------------------------


def signed_record(application: JoinApplication) -> dict[str, Any]:
    """What the person signed, canonical: the hash of its JSON (sorted keys, no spaces, UTF-8) is the
    record's hash. The document's text enters by its own SHA-256."""
    document = application.document
    wording = document.in_language(application.language) or {"title": document.title, "text": document.text}
    statements = wording.get("statements") or []
    return {
        "trial": application.trial.slug,
        "document": {
            "version": document.version,
            "language": application.language,
            "title": wording["title"],
            "text_sha256": hashlib.sha256(str(wording["text"]).encode()).hexdigest(),
        },
        "statements": [
            {
                "code": s["code"],
                "text": s["text"],
                "required": s["required"],
                "answer": bool(application.statement_answers.get(s["code"])),
            }
            for s in statements
        ],
        "signed_name": application.signed_name,
        "signed_at": application.signed_at.astimezone(UTC).replace(microsecond=0).isoformat(),
    }


def record_hash(record: Mapping[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class HashCheck:
    application: JoinApplication | None
    intact: bool  # the stored record still hashes to the stored hash


def consent_hash_verify(*, trial: Trial, digest: str) -> HashCheck:
    """The application whose signed record has this SHA-256 (as printed on a consent copy), and whether the
    stored record still hashes to it."""
    digest = "".join(digest.split()).lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise DomainError("A consent hash is 64 hexadecimal characters, as printed on the copy.", field="hash")
    application = (
        JoinApplication.objects.select_related("trial", "document", "participant")
        .filter(trial=trial, record_hash=digest)
        .first()
    )
    if application is None:
        return HashCheck(None, False)
    return HashCheck(application, record_hash(signed_record(application)) == application.record_hash)


# --------------------------------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinInput:
    """What a person joining gave on the pages, in order: language, screening answers (and when), the
    consent version read, each statement's answer, the typed name (and when), contact details."""

    language: str
    answers: Mapping[str, object]
    screened_at: datetime
    document_version: str
    statements: Mapping[str, bool]
    signed_name: str
    signed_at: datetime
    contact: ContactInput


def consent_check(
    *, trial: Trial, language: str, version: str, statements: Mapping[str, bool], signed_name: str
) -> str:
    """Refuse a consent that cannot be recorded (superseded version, a required statement not confirmed,
    no name); returns the name as it is recorded."""
    document = current_document(trial)
    if document is None or document.version != version:
        raise DomainError("The consent document has changed; please read the current version.", code="changed")
    wording = document.in_language(language)
    if wording is None:
        raise DomainError(f"The consent document has no text in {language!r}.", code="no_wording")
    missing = [s["code"] for s in wording["statements"] if s["required"] and not statements.get(s["code"])]
    if missing:
        raise DomainError(f"Statement(s) not confirmed: {', '.join(missing)}.", field="statements")
    name = " ".join(signed_name.split())
    if not name:
        raise DomainError("Type your full name to sign.", field="signed_name")
    return name


def _site_code(trial: Trial) -> str | None:
    """Online joiners are screened at the trial's site coded ``online`` when it has several."""
    sites = Site.objects.filter(trial=trial, active=True)
    return "online" if sites.count() > 1 and sites.filter(code="online").exists() else None


def _region(trial: Trial) -> str | None:
    site = Site.objects.filter(trial=trial, active=True).exclude(country="").order_by("code").first()
    return site.country if site is not None else None


@transaction.atomic
def join_apply(*, trial: Trial, data: JoinInput) -> JoinApplication:
    """Keep an eligible person's application and queue the e-mail that verifies their address. Nothing is
    counted yet. Raises DomainError (naming the field) for anything that could not be recorded later."""
    require_joining_open(trial)
    if data.language not in (trial.languages or ["en"]):
        raise DomainError(f"Language {data.language!r} is not one of the trial's.", field="language")
    _, _, failures = screening_assess(trial=trial, answers=data.answers)
    if failures:
        raise DomainError("The screening answers do not meet the trial's criteria.", code="ineligible")
    name = consent_check(
        trial=trial,
        language=data.language,
        version=data.document_version,
        statements=data.statements,
        signed_name=data.signed_name,
    )
    if not data.contact.email.strip():
        raise DomainError("An e-mail address is needed to verify it.", field="contact.email")
    contact = data.contact.cleaned(region=_region(trial))
    document = current_document(trial)
    assert document is not None  # consent_check found it
    now = clock.now()
    if data.signed_at > now or data.screened_at > data.signed_at:
        raise DomainError("The screening and signing times are out of order.", field="signed_at")
    application = JoinApplication(
        trial=trial,
        language=data.language,
        screening_answers=dict(data.answers),
        screened_at=data.screened_at,
        document=document,
        statement_answers={code: bool(value) for code, value in data.statements.items()},
        signed_name=name,
        signed_at=data.signed_at.replace(microsecond=0),
        full_name=contact.full_name,
        email=contact.email,
        email_hash=email_hash(contact.email),
        phone=contact.phone,
        timezone=contact.timezone,
        created_at=now,
    )
    application.record_hash = record_hash(signed_record(application))
    application.save()
    outbox_enqueue(
        kind=VERIFY_KIND, dedupe_key=f"join:{application.pk}:verify", context={"application": application.pk}
    )
    audit_record(
        actor=None,
        action="join.apply",
        obj=application,
        trial=trial,
        changes={"status": [None, application.status], "consent_version": [None, document.version]},
    )
    return application


def verification_link_create(*, application: JoinApplication) -> tuple[str, datetime]:
    """A new verification link for the application (the earlier one stops working), valid for
    ``JOIN_VERIFY_HOURS``, and when it expires. Made when the e-mail is written; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    expires = clock.now() + timedelta(hours=settings.JOIN_VERIFY_HOURS)
    JoinApplication.objects.filter(pk=application.pk, status=JoinStatus.PENDING).update(
        token_hash=_token_digest(token), token_expires_at=expires
    )
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/join/{application.trial.slug}/verify/{token}/", expires


# --------------------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """``outcome``: enrolled, review, duplicate, ineligible, changed (the consent document was replaced),
    closed (the trial stopped taking people), expired, used or invalid."""

    outcome: str
    application: JoinApplication | None = None


def verification_find(*, trial: Trial, token: str) -> Verified:
    """What a verification link would do, without doing it (the page before the confirming button)."""
    if not token or len(token) > 100:
        return Verified("invalid")
    application = JoinApplication.objects.filter(trial=trial, token_hash=_token_digest(token)).first()
    if application is None:
        return Verified("invalid")
    if application.status != JoinStatus.PENDING:
        return Verified("used", application)
    if application.token_expires_at is None or application.token_expires_at <= clock.now():
        return Verified("expired", application)
    return Verified("pending", application)


@transaction.atomic
def join_verify(*, trial: Trial, token: str) -> Verified:
    """Use a verification link: once, before it expires. Records the screening and the consent, then
    enrolls or leaves the person for review; a person already screened with this address is recognised."""
    found = verification_find(trial=trial, token=token)
    if found.outcome != "pending" or found.application is None:
        return found
    application = JoinApplication.objects.select_for_update().get(pk=found.application.pk)
    if application.status != JoinStatus.PENDING:
        return Verified("used", application)
    now = clock.now()
    application.verified_at = now
    if not joining_open(trial):
        return Verified("closed", application)  # nothing used up: the link works if joining reopens in time
    document = current_document(trial)
    if document is None or document.pk != application.document_id:
        return _finish(application, JoinStatus.CHANGED, "changed")
    earlier = JoinApplication.objects.filter(trial=trial, email_hash=application.email_hash, status__in=VERIFIED)
    # Also a person the study team enrolled (workspace, API) with this address: one person, one study ID.
    on_record = ContactDetails.objects.filter(participant__trial=trial, email__iexact=application.email)
    if earlier.exists() or on_record.exists():
        return _finish(application, JoinStatus.DUPLICATE, "duplicate")
    participant = participant_screen(
        trial=trial,
        answers=application.screening_answers,
        by=None,
        site_code=_site_code(trial),
        screened_at=application.screened_at,
        language=application.language,
    )
    application.participant = participant
    if participant.status == Status.INELIGIBLE:
        return _finish(application, JoinStatus.INELIGIBLE, "ineligible")
    participant_consent(
        participant=participant,
        signed_name=application.signed_name,
        by=None,
        version=application.document.version,
        signed_at=application.signed_at,
    )
    if trial.online_joining == OnlineJoining.AUTOMATIC:
        participant_enroll(participant=participant, contact=_contact(application), by=None)
        result = _finish(application, JoinStatus.ENROLLED, "enrolled")
    else:
        result = _finish(application, JoinStatus.REVIEW, "review")
    outbox_enqueue(
        kind=CONSENT_COPY_KIND,
        dedupe_key=f"join:{application.pk}:consent-copy",
        participant=participant,
        context={"application": application.pk},
    )
    return result


def _contact(application: JoinApplication) -> ContactInput:
    return ContactInput(
        full_name=application.full_name,
        email=application.email,
        phone=application.phone,
        timezone=application.timezone,
        # The join page offers the mobile number "for text-message reminders": given, it is used.
        channels=ContactChannels.BOTH if application.phone else ContactChannels.EMAIL,
    )


def _finish(application: JoinApplication, status: str, outcome: str) -> Verified:
    before = application.status
    application.status = status
    # Single use: the link now finds an application that is no longer pending ("used").
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError:  # the same address verified at the same moment in another application
        application.status = JoinStatus.DUPLICATE
        application.participant = None
        application.save()
        status, outcome = JoinStatus.DUPLICATE, "duplicate"
    audit_record(
        actor=None,
        action="join.verify",
        obj=application,
        trial=application.trial,
        changes={
            "status": [before, status],
            "participant": [None, application.participant_id],
        },
    )
    return Verified(outcome, application)


# --------------------------------------------------------------------------------------------------
# Review
# --------------------------------------------------------------------------------------------------


def _lock_for_review(application: JoinApplication) -> JoinApplication:
    locked = JoinApplication.objects.select_for_update().select_related("trial").get(pk=application.pk)
    if locked.status != JoinStatus.REVIEW or locked.participant_id is None:
        raise Conflict(f"{locked} is not waiting for review (it is {locked.get_status_display().lower()}).")
    return locked


@transaction.atomic
def join_approve(*, application: JoinApplication, by: Actor) -> Participant:
    """A coordinator approves a verified applicant: they are enrolled (their baseline is scheduled and its
    link sent)."""
    application = _lock_for_review(application)
    participant = Participant.objects.get(pk=int(application.participant_id or 0))
    participant = participant_enroll(participant=participant, contact=_contact(application), by=by)
    application.status = JoinStatus.ENROLLED
    application.decided_at = clock.now()
    application.decided_by = actor_user(by)
    application.save(update_fields=["status", "decided_at", "decided_by"])
    audit_record(
        actor=by,
        action="join.approve",
        obj=application,
        trial=application.trial,
        changes={"status": [JoinStatus.REVIEW, JoinStatus.ENROLLED], "study_id": [None, participant.study_id]},
    )
    return participant


@transaction.atomic
def join_decline(*, application: JoinApplication, reason: str, by: Actor) -> JoinApplication:
    """A coordinator declines a verified applicant, with a reason (kept; the consented participant is
    withdrawn with it, so CONSORT counts them)."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Give the reason for declining.", field="reason")
    application = _lock_for_review(application)
    participant = Participant.objects.get(pk=int(application.participant_id or 0))
    participant_withdraw(participant=participant, reason=f"Declined at review: {reason}", by=by)
    application.status = JoinStatus.DECLINED
    application.decided_at = clock.now()
    application.decided_by = actor_user(by)
    application.decision_reason = reason
    application.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    audit_record(
        actor=by,
        action="join.decline",
        obj=application,
        trial=application.trial,
        changes={"status": [JoinStatus.REVIEW, JoinStatus.DECLINED], "reason": [None, reason]},
    )
    return application
