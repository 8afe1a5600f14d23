"""Reads of participant data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import QuerySet

from participants.models import AdverseEvent, AlertStatus, Consent, Participant, SafetyAlert
from trial.models import ConsentDocument, Trial, TrialMembership


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


def adverse_events_for(participant: Participant) -> QuerySet[AdverseEvent]:
    """The participant's adverse events, latest onset first (the participant page). Their description and
    relatedness may tell the arm: show them to the roles that handle safety (docs/safety.md)."""
    return (
        AdverseEvent.objects.filter(participant=participant)
        .select_related("recorded_by", "alert")
        .order_by("-onset_date", "-id")
    )
