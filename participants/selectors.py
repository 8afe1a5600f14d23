"""Reads of participant data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from participants.models import (
    AdverseEvent,
    AlertStatus,
    Consent,
    EmergencyUnblinding,
    OutboxMessage,
    Participant,
    SafetyAlert,
)
from trial.models import ConsentDocument, Trial, TrialMembership, TrialUnblindingRequest


def participant_list(*, trial: Trial) -> QuerySet[Participant]:
    return (
        Participant.objects.filter(trial=trial)
        .select_related("site", "allocation__arm")
        .prefetch_related("unblindings")
        .order_by("id")
    )


def current_consent_document(trial: Trial) -> ConsentDocument | None:
    return ConsentDocument.objects.filter(trial=trial).order_by("-published_at", "-id").first()


def consent_required_document(participant: Participant) -> ConsentDocument | None:
    """The consent version this participant must (re)consent to now, or None if their consent is current.

    Current means: they consented to the latest version that requires re-consent, or to a later one;
    with no such version, any recorded consent is current.
    """
    consents = Consent.objects.filter(participant=participant).select_related("document")
    signed = list(consents)
    documents = ConsentDocument.objects.filter(trial_id=participant.trial_id)
    gate = documents.filter(requires_reconsent=True).order_by("-published_at", "-id").first()
    if gate is None:
        return None if signed else documents.order_by("-published_at", "-id").first()
    if any((c.document.published_at, c.document.pk) >= (gate.published_at, gate.pk) for c in signed):
        return None
    return current_consent_document(participant.trial)


def members_to_notify(*, trial_id: int, roles: Iterable[str]) -> list[User]:
    """Active members of a trial holding any of ``roles`` who have an e-mail address, once each."""
    ids = TrialMembership.objects.filter(trial_id=trial_id, role__in=list(roles)).values("user_id")
    return list(User.objects.filter(pk__in=ids, is_active=True).exclude(email="").order_by("pk"))


def oldest_unacknowledged_urgent_alert() -> datetime | None:
    """When the oldest urgent safety alert nobody has acknowledged was raised, across trials (monitoring;
    the partial index ``alert_open_urgent``)."""
    alerts = SafetyAlert.objects.filter(status=AlertStatus.OPEN, urgent=True).order_by("raised_at")
    return alerts.values_list("raised_at", flat=True).first()


def _about(key: str) -> Cast:
    """The id a message's context names (``{"alert": 12}``), as an integer the database can join on."""
    return Cast(KeyTextTransform(key, "context"), IntegerField())


def trial_messages(*, trial: Trial, staff_notifications: bool = False) -> QuerySet[OutboxMessage]:
    """The outbox of one trial: every message to its participants and, with ``staff_notifications``, the
    e-mails to its staff about them (safety alerts, escalations, emergency unblinding notices) and about
    the trial (unblinding requests). Each row carries ``subject_id``: the participant it is to or about
    (None for a notice about the whole trial). Unordered."""
    from participants.services.safety import ALERT_KIND, ESCALATION_KIND
    from participants.services.unblinding import NOTICE_KIND, TRIAL_NOTICE_KIND

    scope = Q(participant_id__in=Participant.objects.filter(trial=trial).values("pk"))
    messages = OutboxMessage.objects.all()
    if not staff_notifications:
        return messages.filter(scope).annotate(subject_id=F("participant_id"))
    alerts = SafetyAlert.objects.filter(participant__trial=trial)
    unblindings = EmergencyUnblinding.objects.filter(participant__trial=trial)
    requests = TrialUnblindingRequest.objects.filter(trial=trial)
    scope |= Q(participant=None, kind__in=(ALERT_KIND, ESCALATION_KIND), about_alert__in=alerts.values("pk"))
    scope |= Q(participant=None, kind=NOTICE_KIND, about_unblinding__in=unblindings.values("pk"))
    scope |= Q(participant=None, kind=TRIAL_NOTICE_KIND, about_request__in=requests.values("pk"))
    subject = Coalesce(
        F("participant_id"),
        Subquery(SafetyAlert.objects.filter(pk=OuterRef("about_alert")).values("participant_id")[:1]),
        Subquery(EmergencyUnblinding.objects.filter(pk=OuterRef("about_unblinding")).values("participant_id")[:1]),
        output_field=IntegerField(),
    )
    return (
        messages.alias(
            about_alert=_about("alert"), about_unblinding=_about("unblinding"), about_request=_about("request")
        )
        .filter(scope)
        .annotate(subject_id=subject)
    )


def messages_for(participant: Participant, *, staff_notifications: bool = False) -> QuerySet[OutboxMessage]:
    """A participant's messages (and, with ``staff_notifications``, the staff's e-mails about them), newest
    first. Readers who must not know the arm see them through ``assessments.blinding.messages_shown_blinded``
    (the workspace's message log does that: workspace.message_log)."""
    return (
        trial_messages(trial=participant.trial, staff_notifications=staff_notifications)
        .filter(Q(subject_id=participant.pk))
        .order_by("-created_at", "-id")
    )


def adverse_events_for(participant: Participant) -> QuerySet[AdverseEvent]:
    """The participant's adverse events, latest onset first (the participant page). Their description and
    relatedness may tell the arm: show them to the roles that handle safety (docs/safety.md)."""
    return (
        AdverseEvent.objects.filter(participant=participant)
        .select_related("recorded_by", "alert")
        .order_by("-onset_date", "-id")
    )
