"""Writes to the protocol: opening and closing recruitment, publishing consent versions, memberships."""

from __future__ import annotations

import secrets
import string

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from trial import clock
from trial.audit import Actor, audit_record
from trial.errors import Conflict, DomainError, InvalidTransition
from trial.models import ConsentDocument, Role, Trial, TrialMembership, TrialStatus

TRIAL_TRANSITIONS: dict[str, frozenset[str]] = {
    TrialStatus.DRAFT: frozenset({TrialStatus.RECRUITING}),
    TrialStatus.RECRUITING: frozenset({TrialStatus.CLOSED}),
    TrialStatus.CLOSED: frozenset({TrialStatus.RECRUITING, TrialStatus.LOCKED}),
    TrialStatus.LOCKED: frozenset(),
}


def _assign_blinded_labels(trial: Trial) -> None:
    """Give the arms the letters A, B, ... in an order drawn from the CSPRNG, so the letter says nothing
    about which arm is which."""
    arms = list(trial.arms.all())
    order = list(range(len(arms)))
    secrets.SystemRandom().shuffle(order)
    for arm, position in zip(arms, order, strict=True):
        type(arm).objects.filter(pk=arm.pk).update(blinded_label=string.ascii_uppercase[position])


@transaction.atomic
def trial_set_status(*, trial: Trial, status: str, by: Actor, reason: str = "") -> Trial:
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if status not in TrialStatus.values:
        raise DomainError(
            f"Unknown trial status {status!r}; use one of {', '.join(TrialStatus.values)}.", field="status"
        )
    if status not in TRIAL_TRANSITIONS[trial.status]:
        allowed = ", ".join(sorted(TRIAL_TRANSITIONS[trial.status])) or "none"
        raise InvalidTransition(
            f"Trial {trial.slug} cannot go from {trial.status} to {status} (allowed: {allowed}).", field="status"
        )
    if status == TrialStatus.RECRUITING and trial.status == TrialStatus.DRAFT:
        problems = trial.design_problems()
        if problems:
            raise DomainError("The trial cannot open: " + " ".join(problems), field="status", code="design_incomplete")
        _assign_blinded_labels(trial)
    previous = trial.status
    trial.status = status
    trial.save(update_fields=["status"])
    audit_record(
        actor=by, action="trial.status", obj=trial, trial=trial, changes={"status": [previous, status]}, reason=reason
    )
    return trial


@transaction.atomic
def trial_unblind(*, trial: Trial, by: Actor, reason: str) -> Trial:
    """Reveal the arms to blinded roles for the whole trial (after database lock, or by decision of the
    trial's authorized role). The reason is mandatory and the act is audited."""
    if not reason.strip():
        raise DomainError("Give the reason for unblinding the trial.", field="reason")
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if trial.unblinded_at is not None:
        raise DomainError(
            f"Trial {trial.slug} was already unblinded on {trial.unblinded_at:%Y-%m-%d}.", code="conflict"
        )
    trial.unblinded_at = clock.now()
    trial.unblinding_reason = reason.strip()
    trial.save(update_fields=["unblinded_at", "unblinding_reason"])
    audit_record(actor=by, action="trial.unblind", obj=trial, trial=trial, reason=reason.strip())
    return trial


@transaction.atomic
def consent_document_publish(
    *, trial: Trial, version: str, title: str, text: str, requires_reconsent: bool, by: Actor
) -> ConsentDocument:
    version = version.strip()
    if not version:
        raise DomainError("Give the document's version.", field="version")
    if not text.strip():
        raise DomainError("The consent document's text is empty.", field="text")
    exists = Conflict(f"Version {version!r} of the consent document already exists.", field="version")
    if ConsentDocument.objects.filter(trial=trial, version=version).exists():
        raise exists
    try:
        with transaction.atomic():  # two publishers of one version at once: the constraint decides
            document = ConsentDocument.objects.create(
                trial=trial,
                version=version,
                title=title.strip() or trial.title,
                text=text,
                requires_reconsent=requires_reconsent,
            )
    except IntegrityError:
        raise exists from None
    audit_record(
        actor=by,
        action="consent_document.publish",
        obj=document,
        trial=trial,
        changes={"version": [None, version], "requires_reconsent": [None, requires_reconsent]},
    )
    return document


@transaction.atomic
def membership_grant(*, trial: Trial, user: User, role: str, by: Actor) -> TrialMembership:
    if role not in Role.values:
        raise DomainError(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", field="role")
    membership, created = TrialMembership.objects.get_or_create(trial=trial, user=user, role=role)
    if created:
        audit_record(actor=by, action="membership.grant", obj=membership, trial=trial, changes={"role": [None, role]})
    return membership
