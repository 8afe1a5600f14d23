"""Screening, consent and enrollment."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from participants import events
from participants.models import (
    Consent,
    ContactChannels,
    ContactDetails,
    Participant,
    Status,
    StatusChange,
    StudyIdCounter,
)
from participants.services.common import (
    lock_participant,
    require_current_consent,
    require_recruiting,
    step,
)
from trial import clock, eligibility
from trial.audit import Actor, actor_user, audit_record
from trial.errors import Conflict, DomainError
from trial.models import ConsentDocument, Site, Trial


class ScreeningInvalid(DomainError):
    """Screening answers that do not fit the trial's screening fields; ``errors`` names each field."""

    code = "invalid_screening_answers"

    def __init__(self, errors: Mapping[str, str]):
        self.errors = {f"answers.{k}": v for k, v in errors.items()}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()), field="answers")


def _site_for(trial: Trial, site_code: str | None) -> Site | None:
    sites = list(Site.objects.filter(trial=trial, active=True))
    if site_code:
        for site in sites:
            if site.code == site_code:
                return site
        raise DomainError(f"No active site {site_code!r} in trial {trial.slug}.", field="site")
    if len(sites) > 1:
        raise DomainError(f"Trial {trial.slug} has several sites; say which one screened.", field="site")
    return sites[0] if sites else None


def screening_assess(
    *, trial: Trial, answers: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, str], list[eligibility.Failure]]:
    """Check screening answers against the trial's fields and rules without recording anything: the cleaned
    answers, the strata and the rules not met (empty: eligible). ScreeningInvalid names each bad field.
    ``participant_screen`` records with it; the online join pages ask with it before the e-mail is verified."""
    field_specs, rule_specs = trial.screening_specs()
    try:
        cleaned = eligibility.clean_answers(field_specs, answers)
    except eligibility.ScreeningError as exc:
        raise ScreeningInvalid(exc.errors) from exc
    # An unanswered field a rule reads would fail that rule and record a wrong "ineligible" for ever: it
    # is asked for instead, and nothing is recorded.
    needed = eligibility.missing_for_rules(rule_specs, cleaned)
    if needed:
        raise ScreeningInvalid(needed)
    strata: dict[str, str] = {}
    missing: dict[str, str] = {}
    for factor in trial.factor_specs():
        level = cleaned.get(factor.code)
        if level not in factor.levels:
            missing[factor.code] = f"stratification factor: must be one of {', '.join(factor.levels)}"
        else:
            strata[factor.code] = str(level)
    if missing:
        raise ScreeningInvalid(missing)
    return cleaned, strata, eligibility.evaluate(rule_specs, cleaned)


@transaction.atomic
def trial_language(trial: Trial, given: str = "") -> str:
    """``given`` if it is one of the trial's languages, the trial's first when nothing is given; anything
    else is refused, naming the languages the trial has."""
    languages = list(trial.languages or [settings.LANGUAGE_CODE.split("-")[0]])
    chosen = (given or "").strip().lower() or languages[0]
    if chosen not in languages:
        raise DomainError(f"{given!r} is not one of the trial's languages ({', '.join(languages)}).", field="language")
    return chosen


def participant_screen(
    *,
    trial: Trial,
    answers: Mapping[str, object],
    by: Actor,
    site_code: str | None = None,
    screened_at: datetime | None = None,
    language: str = "",
) -> Participant:
    """Record a screening and decide eligibility. Ineligible people are kept (with the reasons, for the
    CONSORT flow) but never get a study ID. ``screened_at``: when the answers were given, if not now (a
    person joining online is recorded once their e-mail address is verified). ``language``: the one the
    person chose, among the trial's (its first when not given); their pages and messages use it."""
    require_recruiting(trial, "screen")
    language = trial_language(trial, language)
    site = _site_for(trial, site_code)
    cleaned, strata, failures = screening_assess(trial=trial, answers=answers)
    now = clock.now()
    if screened_at is not None and (timezone.is_naive(screened_at) or screened_at > now):
        raise DomainError("The screening time must be a past, timezone-aware time.", field="screened_at")
    now = screened_at or now
    participant = Participant.objects.create(
        trial=trial,
        site=site,
        screening_answers=cleaned,
        strata=strata,
        screened_at=now,
        screened_by=actor_user(by),
        status=Status.SCREENED,
        language=language,
    )
    StatusChange.objects.create(
        participant=participant, from_status="", to_status=Status.SCREENED, at=now, by=actor_user(by)
    )
    if failures:
        participant.ineligibility_reasons = [{"rule": f.rule, "reason": f.reason} for f in failures]
        step(participant, Status.INELIGIBLE, by=by, reason="; ".join(f.reason for f in failures))
    else:
        step(participant, Status.ELIGIBLE, by=by)
    participant.save(update_fields=["status", "ineligibility_reasons"])
    audit_record(
        actor=by,
        action="participant.screen",
        obj=participant,
        trial=trial,
        changes={
            "status": [None, participant.status],
            "ineligibility_reasons": [None, participant.ineligibility_reasons],
            "language": [None, language],
        },
    )
    return participant


@transaction.atomic
def participant_consent(
    *,
    participant: Participant,
    signed_name: str,
    by: Actor,
    version: str | None = None,
    signed_at: datetime | None = None,
) -> Consent:
    """Record consent to the current consent document (first consent, or re-consent to a new version)."""
    participant = lock_participant(participant)
    trial = participant.trial
    documents = ConsentDocument.objects.filter(trial=trial).order_by("-published_at", "-id")
    current = documents.first()
    if current is None:
        raise DomainError(f"Trial {trial.slug} has no consent document.", code="no_consent_document")
    if version is not None and version != current.version:
        if not documents.filter(version=version).exists():
            raise DomainError(f"Trial {trial.slug} has no consent document version {version!r}.", field="version")
        raise DomainError(
            f"Version {version!r} is superseded; consent must be to the current version {current.version!r}.",
            field="version",
        )
    name = " ".join(signed_name.split())
    if len(name) < 2:
        raise DomainError("Type the participant's full name as their signature.", field="signed_name")
    now = clock.now()
    signed_at = signed_at or now
    if timezone.is_naive(signed_at):
        raise DomainError("Give the signing time with its timezone.", field="signed_at")
    if signed_at > now + timedelta(minutes=5):
        raise DomainError("The signing time is in the future.", field="signed_at")
    # Times are entered to the minute: a consent signed in the minute of the screening is not "before" it.
    if participant.screened_at and signed_at < participant.screened_at.replace(second=0, microsecond=0):
        raise DomainError("The signing time is before the screening; consent follows screening.", field="signed_at")
    if Consent.objects.filter(participant=participant, document=current).exists():
        raise Conflict(f"Participant {participant} has already consented to version {current.version}.")
    if participant.status == Status.ELIGIBLE:
        require_recruiting(trial, "record consent")
        step(participant, Status.CONSENTED, by=by)
        participant.save(update_fields=["status"])
    elif participant.status not in (Status.CONSENTED, Status.ENROLLED, Status.RANDOMIZED, Status.LOST_TO_FOLLOW_UP):
        raise DomainError(
            f"Participant {participant} is {participant.status}; consent cannot be recorded.", code="invalid_transition"
        )
    consent = Consent.objects.create(
        participant=participant,
        document=current,
        signed_name=name,
        signed_at=signed_at,
        recorded_by=actor_user(by),
        recorded_at=now,
    )
    audit_record(
        actor=by,
        action="participant.consent",
        obj=participant,
        trial=trial,
        changes={"consent_version": [None, current.version], "signed_at": [None, signed_at.isoformat()]},
    )
    return consent


def phone_e164(raw: str, region: str | None) -> str:
    """A phone number as typed, in E.164 (``+16035550100``), or DomainError naming contact.phone.

    ``region`` (ISO 3166, the site's country) is where a number without ``+`` and a country code is read
    from: "603-555-0100" at a US site is +16035550100. Without a region the number must start with +. The
    number must be valid for its country (phonenumbers' metadata: right length and a number range in use),
    not merely of a possible length. An extension is refused: questionnaires go by text message.
    """
    text = raw.strip()
    example = "such as +16035550100"
    if not region and not text.startswith("+"):
        raise DomainError(
            f"{raw!r}: give the phone number with + and its country code, {example}; this site has no country.",
            field="contact.phone",
        )
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        where = f" in {region.upper()}" if region and not text.startswith("+") else ""
        raise DomainError(
            f"{raw!r} is not a valid phone number{where}; give it as dialled there or with + and the country "
            f"code, {example}.",
            field="contact.phone",
        )
    if number.extension:
        raise DomainError(
            f"{raw!r} has an extension; give a mobile number that can receive text messages.", field="contact.phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class ContactInput:
    """Contact details as given. ``cleaned(region=...)`` normalizes them: the phone number becomes E.164,
    read in ``region`` (the site's country) when it has no + and country code."""

    full_name: str
    email: str = ""
    phone: str = ""
    timezone: str = "UTC"
    # How messages go: "email", "sms" or "both" (ContactChannels); "" lets it follow the addresses given:
    # e-mail if there is one, otherwise SMS (at a change: the channels they had, if those still fit).
    channels: str = ""

    def cleaned(self, region: str | None = None, *, current: str = "") -> ContactInput:
        name = " ".join(self.full_name.split())
        if not name:
            raise DomainError("The participant's name is required.", field="contact.full_name")
        email = self.email.strip()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise DomainError(f"{email!r} is not a valid e-mail address.", field="contact.email") from None
        phone = phone_e164(self.phone, region) if self.phone.strip() else ""
        if not email and not phone:
            raise DomainError(
                "Give an e-mail address or a phone number to send questionnaires to.", field="contact.email"
            )
        tz = self.timezone.strip() or "UTC"
        if tz not in zoneinfo.available_timezones():
            raise DomainError(
                f"{self.timezone!r} is not a known timezone (e.g. America/New_York).", field="contact.timezone"
            )
        return ContactInput(
            full_name=name,
            email=email,
            phone=phone,
            timezone=tz,
            channels=_channels(self.channels, email, phone, current),
        )


def _channels(given: str, email: str, phone: str, current: str) -> str:
    chosen = given.strip().lower()
    if not chosen:
        needs = {ContactChannels.EMAIL: (email,), ContactChannels.SMS: (phone,), ContactChannels.BOTH: (email, phone)}
        if current in needs and all(needs[ContactChannels(current)]):
            return current
        return ContactChannels.EMAIL if email else ContactChannels.SMS
    if chosen not in ContactChannels.values:
        raise DomainError(
            f"{given!r} is not a way to send messages; use {', '.join(ContactChannels.values)}.",
            field="contact.channels",
        )
    if chosen in (ContactChannels.EMAIL, ContactChannels.BOTH) and not email:
        raise DomainError("Messages by e-mail need an e-mail address.", field="contact.email")
    if chosen in (ContactChannels.SMS, ContactChannels.BOTH) and not phone:
        raise DomainError("Messages by SMS need a mobile phone number.", field="contact.phone")
    return chosen


def _region_of(participant: Participant) -> str | None:
    """The default region of phone numbers: the country of the participant's site, if it has one."""
    site = Site.objects.filter(pk=participant.site_id).only("country").first() if participant.site_id else None
    return site.country if site is not None and site.country else None


def _next_study_id(trial: Trial) -> str:
    counter, _ = StudyIdCounter.objects.get_or_create(trial=trial)
    counter = StudyIdCounter.objects.select_for_update().get(pk=counter.pk)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{trial.study_id_prefix}-{counter.last_number:0{trial.study_id_digits}d}"


@transaction.atomic
def participant_enroll(*, participant: Participant, contact: ContactInput, by: Actor) -> Participant:
    """Enroll a consented participant: issue the study ID and keep the contact details apart."""
    participant = lock_participant(participant)
    require_recruiting(participant.trial, "enroll")
    contact = contact.cleaned(region=_region_of(participant))
    if participant.status == Status.CONSENTED:
        require_current_consent(participant, "enroll")
    step(participant, Status.ENROLLED, by=by)
    participant.study_id = _next_study_id(participant.trial)
    participant.enrolled_at = clock.now()
    participant.save(update_fields=["status", "study_id", "enrolled_at"])
    ContactDetails.objects.create(
        participant=participant, **{f.name: getattr(contact, f.name) for f in fields(contact)}
    )
    audit_record(
        actor=by,
        action="participant.enroll",
        obj=participant,
        trial=participant.trial,
        changes={"status": [Status.CONSENTED, Status.ENROLLED], "study_id": [None, participant.study_id]},
    )
    events.participant_enrolled.send(sender=Participant, participant=participant, by=by)
    return participant


@transaction.atomic
def contact_update(*, participant: Participant, contact: ContactInput, by: Actor) -> ContactDetails:
    """Replace a participant's contact details. The audit names the fields changed, not their values, so
    the audit trail carries no contact details."""
    participant = lock_participant(participant)
    try:
        details = ContactDetails.objects.select_for_update().get(participant=participant)
    except ContactDetails.DoesNotExist:
        raise DomainError(f"Participant {participant} has no contact details; enroll them first.") from None
    contact = contact.cleaned(region=_region_of(participant), current=details.channels)
    changed = [f.name for f in fields(contact) if getattr(details, f.name) != getattr(contact, f.name)]
    for name in changed:
        setattr(details, name, getattr(contact, name))
    if "phone" in changed and details.sms_stopped_at is not None:
        details.sms_stopped_at = None  # a STOP was the old number's; the new one has not said it
        changed.append("sms_stopped_at")
    details.updated_at = clock.now()
    details.save()
    if changed:
        audit_record(
            actor=by,
            action="participant.contact_update",
            obj=participant,
            trial=participant.trial,
            changes={name: ["(changed)", "(changed)"] for name in changed},
        )
    return details
