"""Writes to the protocol: opening and closing recruitment, unblinding (two people), publishing consent
versions, memberships; and people's API tokens."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from trial import access, clock, events
from trial.access import Capability
from trial.audit import Actor, actor_user, audit_record
from trial.errors import Conflict, DomainError, Forbidden, InvalidTransition
from trial.models import (
    ApiToken,
    ConsentDocument,
    Role,
    Trial,
    TrialMembership,
    TrialStatus,
    TrialUnblindingRequest,
    UnblindingStatus,
)

# A trial is unblinded once recruitment is closed (or the database locked); earlier only in an emergency.
UNBLINDING_STATUSES = frozenset({TrialStatus.CLOSED, TrialStatus.LOCKED})

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
    if status == TrialStatus.RECRUITING:
        # Opening and reopening alike: what was installed when the trial first opened (a questionnaire's
        # wording, say) may be gone since.
        problems = trial.design_problems()
        if problems:
            verb = "open" if trial.status == TrialStatus.DRAFT else "reopen"
            raise DomainError(
                f"The trial cannot {verb}: " + " ".join(problems), field="status", code="design_incomplete"
            )
        if trial.status == TrialStatus.DRAFT:
            _assign_blinded_labels(trial)
    previous = trial.status
    trial.status = status
    trial.save(update_fields=["status"])
    audit_record(
        actor=by, action="trial.status", obj=trial, trial=trial, changes={"status": [previous, status]}, reason=reason
    )
    return trial


def _unblinding_member(trial: Trial, by: Actor) -> User:
    """The signed-in person acting on a trial unblinding, if their roles in the trial allow it."""
    user = actor_user(by)
    if user is None:
        raise Forbidden("Unblinding the trial needs a named, signed-in person.", code="not_authenticated")
    if not access.can(access.roles_for(user, trial), Capability.MANAGE_TRIAL):
        raise Forbidden(f"Your roles in {trial.slug} do not allow unblinding the trial ({Capability.MANAGE_TRIAL}).")
    return user


def _expire_stale_unblinding_requests(trial: Trial) -> None:
    for stale in TrialUnblindingRequest.objects.filter(
        trial=trial, status=UnblindingStatus.PENDING, expires_at__lte=clock.now()
    ):
        stale.status = UnblindingStatus.EXPIRED
        stale.save(update_fields=["status"])
        audit_record(
            actor=None,
            action="trial.unblind_expire",
            obj=stale,
            trial=trial,
            changes={"status": [UnblindingStatus.PENDING, UnblindingStatus.EXPIRED]},
        )


def _refuse_if_unblinded(trial: Trial) -> None:
    if trial.unblinded_at is not None:
        raise Conflict(f"Trial {trial.slug} was already unblinded on {trial.unblinded_at:%Y-%m-%d}.")


def _refuse_while_recruiting(trial: Trial, emergency_reason: str) -> None:
    if trial.status not in UNBLINDING_STATUSES and not emergency_reason:
        raise Conflict(
            f"Trial {trial.slug} is {trial.status}: it is unblinded after it closes or is locked, or earlier only "
            "with an emergency reason (emergency_reason).",
            field="emergency_reason",
            code="trial_not_closed",
        )


@transaction.atomic
def trial_unblinding_request(
    *, trial: Trial, by: Actor, reason: str, emergency_reason: str = ""
) -> TrialUnblindingRequest:
    """Ask to reveal the arms to blinded roles for the whole trial. Nothing is revealed until a second,
    different authorised person confirms (``trial_unblinding_confirm``) within
    ``UNBLINDING_REQUEST_DAYS``. The trial must be closed or locked, unless an emergency reason is given
    (e.g. a data monitoring committee's decision to stop for harm); it is recorded and notified."""
    reason, emergency_reason = reason.strip(), emergency_reason.strip()
    if not reason:
        raise DomainError("Give the reason for unblinding the trial.", field="reason")
    user = _unblinding_member(trial, by)
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    _refuse_if_unblinded(trial)
    _refuse_while_recruiting(trial, emergency_reason)
    _expire_stale_unblinding_requests(trial)
    pending = TrialUnblindingRequest.objects.filter(trial=trial, status=UnblindingStatus.PENDING).first()
    if pending is not None:
        raise Conflict(
            f"Unblinding request {pending.pk} is already waiting for a second person; confirm or reject it.",
            code="request_pending",
        )
    now = clock.now()
    request = TrialUnblindingRequest.objects.create(
        trial=trial,
        reason=reason,
        emergency_reason=emergency_reason,
        trial_status=trial.status,
        requested_by=user,
        requested_at=now,
        expires_at=now + timedelta(days=settings.UNBLINDING_REQUEST_DAYS),
    )
    audit_record(
        actor=by,
        action="trial.unblind_request",
        obj=request,
        trial=trial,
        changes={
            "status": [None, request.status],
            "trial_status": [None, trial.status],
            "emergency": [None, bool(emergency_reason)],
        },
        reason=reason if not emergency_reason else f"{reason}\nEmergency: {emergency_reason}",
    )
    events.trial_unblinding_step.send(sender=TrialUnblindingRequest, request=request, step="requested", by=user)
    return request


def _decidable(request: TrialUnblindingRequest, user: User) -> TrialUnblindingRequest:
    request = TrialUnblindingRequest.objects.select_for_update().get(pk=request.pk)
    if request.status == UnblindingStatus.PENDING and request.expires_at <= clock.now():
        raise Conflict(
            f"Unblinding request {request.pk} expired unconfirmed on {request.expires_at:%Y-%m-%d}; ask again.",
            code="not_pending",
        )
    if request.status != UnblindingStatus.PENDING:
        raise Conflict(f"Unblinding request {request.pk} is {request.status}; make a new request.", code="not_pending")
    if request.requested_by_id == user.pk:
        raise Forbidden(
            "A second, different person must confirm or reject an unblinding request.", code="second_person_required"
        )
    return request


@transaction.atomic
def trial_unblinding_confirm(*, request: TrialUnblindingRequest, by: Actor, note: str = "") -> TrialUnblindingRequest:
    """The second person's confirmation: the trial is unblinded now. Audited and notified."""
    trial = Trial.objects.select_for_update().get(pk=request.trial_id)
    user = _unblinding_member(trial, by)
    request = _decidable(request, user)
    _refuse_if_unblinded(trial)
    _refuse_while_recruiting(trial, request.emergency_reason)
    now = clock.now()
    request.status, request.decided_by, request.decided_at, request.decision_note = (
        UnblindingStatus.CONFIRMED,
        user,
        now,
        note.strip(),
    )
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    trial.unblinded_at = now
    trial.unblinding_reason = request.reason
    trial.save(update_fields=["unblinded_at", "unblinding_reason"])
    audit_record(
        actor=by,
        action="trial.unblind",
        obj=trial,
        trial=trial,
        changes={"request": [None, request.pk], "requested_by": [None, request.requested_by.get_username()]},
        reason=request.reason,
    )
    events.trial_unblinding_step.send(sender=TrialUnblindingRequest, request=request, step="confirmed", by=user)
    return request


@transaction.atomic
def trial_unblinding_reject(*, request: TrialUnblindingRequest, by: Actor, note: str) -> TrialUnblindingRequest:
    """The second person refuses: the trial stays blinded. The reason is required, audited and notified."""
    note = note.strip()
    if not note:
        raise DomainError("Give the reason for rejecting the request.", field="note")
    trial = Trial.objects.select_for_update().get(pk=request.trial_id)
    user = _unblinding_member(trial, by)
    request = _decidable(request, user)
    request.status, request.decided_by, request.decided_at, request.decision_note = (
        UnblindingStatus.REJECTED,
        user,
        clock.now(),
        note,
    )
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(
        actor=by,
        action="trial.unblind_reject",
        obj=request,
        trial=trial,
        changes={"status": [UnblindingStatus.PENDING, UnblindingStatus.REJECTED]},
        reason=note,
    )
    events.trial_unblinding_step.send(sender=TrialUnblindingRequest, request=request, step="rejected", by=user)
    return request


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


# --------------------------------------------------------------------------------------------------
# API tokens
# --------------------------------------------------------------------------------------------------

KEY_START = "tpt_"
TOKEN_LAST_USED_EVERY = timedelta(minutes=1)


def _token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``, valid for ``days`` (at most, and by default, API_TOKEN_TTL_DAYS). The key
    is returned once and stored only hashed."""
    if not name.strip():
        raise DomainError("Name the token (e.g. the script or machine that will use it).", field="name")
    limit = settings.API_TOKEN_TTL_DAYS
    days = limit if days is None else days
    if not 1 <= days <= limit:
        raise DomainError(f"A token lasts from 1 to {limit} days.", field="days")
    key = KEY_START + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:100],
        prefix=key[:12],
        key_hash=_token_digest(key),
        expires_at=clock.now() + timedelta(days=days),
    )
    audit_record(
        actor=user, action="api_token.create", obj=token, trial=None, changes={"expires_at": [None, token.expires_at]}
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: Actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=by, action="api_token.revoke", obj=token, trial=None)
    return token


def api_token_resolve(key: str) -> ApiToken | None:
    """The live token with this key (not expired, not revoked, its owner active), or None."""
    if not key.startswith(KEY_START) or len(key) > 100:
        return None
    now = clock.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_digest(key), revoked_at=None, expires_at__gt=now, user__is_active=True)
        .first()
    )
    if token is not None and (token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_EVERY):
        # Written at most once a minute per token, not on every request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
