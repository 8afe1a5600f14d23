"""Permission checks: what each trial role may do, and how arms are shown to it.

Membership is per trial. Someone with no membership in a trial gets a 404 for everything in it (it is
not revealed that the trial exists); a member whose roles lack a capability gets a 403.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from trial.models import Role, Trial, TrialMembership


class Capability(StrEnum):
    VIEW_TRIAL = "view_trial"
    MANAGE_TRIAL = "manage_trial"  # status, consent versions
    ENROLL = "enroll"  # screen, consent, enroll, randomize, follow-up status
    VIEW_CONTACT = "view_contact"
    VIEW_AUDIT = "view_audit"
    UNBLIND_PARTICIPANT = "unblind_participant"
    VIEW_DESIGN_SECRETS = "view_design_secrets"  # block sizes and sequence state
    HANDLE_SAFETY = "handle_safety"  # the safety alert queue: acknowledge, contact, resolve
    EXPORT = "export"  # analysis datasets (blinded; unblinded also needs the unblinded role and a lock)


ALL = frozenset(Capability)
CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.COORDINATOR: frozenset({Capability.VIEW_TRIAL, Capability.ENROLL, Capability.VIEW_CONTACT}),
    Role.INVESTIGATOR: frozenset(
        {
            Capability.VIEW_TRIAL,
            Capability.MANAGE_TRIAL,
            Capability.ENROLL,
            Capability.VIEW_CONTACT,
            Capability.VIEW_AUDIT,
            Capability.UNBLIND_PARTICIPANT,
            Capability.HANDLE_SAFETY,
            Capability.EXPORT,
        }
    ),
    Role.BLINDED_STATISTICIAN: frozenset({Capability.VIEW_TRIAL, Capability.EXPORT}),
    Role.UNBLINDED_STATISTICIAN: frozenset({Capability.VIEW_TRIAL, Capability.VIEW_DESIGN_SECRETS, Capability.EXPORT}),
    Role.SAFETY_CLINICIAN: frozenset(
        {Capability.VIEW_TRIAL, Capability.VIEW_CONTACT, Capability.UNBLIND_PARTICIPANT, Capability.HANDLE_SAFETY}
    ),
    # The administrator sets the trial up and runs it, but does not enroll: whoever enrolls must not
    # see the block sizes, so the two never sit in one role.
    Role.ADMINISTRATOR: frozenset(ALL - {Capability.ENROLL}),
}


# Staff who hold any of these in any trial log in with a second factor where STAFF_2FA=required
# (trial/two_factor.py): they see contact details, or can unblind.
TWO_FACTOR_CAPABILITIES = frozenset({Capability.VIEW_CONTACT, Capability.UNBLIND_PARTICIPANT, Capability.MANAGE_TRIAL})


def needs_two_factor(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user's roles, in any trial, call for a second factor (superusers: always)."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False):
        return True
    roles = frozenset(TrialMembership.objects.filter(user_id=user.pk).values_list("role", flat=True).distinct())
    return bool(capabilities_for(roles) & TWO_FACTOR_CAPABILITIES)


def roles_for(user: AbstractBaseUser | AnonymousUser, trial: Trial) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    return frozenset(TrialMembership.objects.filter(trial=trial, user_id=user.pk).values_list("role", flat=True))


def membership_in(user: AbstractBaseUser | AnonymousUser, slug: str) -> tuple[Trial, frozenset[str]] | None:
    """The trial with that slug and the user's roles in it, in one query; None if they are not a member
    (the same answer as ``trials_for`` followed by ``roles_for``, which every API request needs)."""
    if not user.is_authenticated:
        return None
    rows = list(TrialMembership.objects.filter(user_id=user.pk, trial__slug=slug).select_related("trial"))
    if not rows:
        return None
    return rows[0].trial, frozenset(row.role for row in rows)


def capabilities_for(roles: frozenset[str]) -> frozenset[Capability]:
    caps: set[Capability] = set()
    for role in roles:
        caps |= CAPABILITIES.get(role, frozenset())
    return frozenset(caps)


def can(roles: frozenset[str], capability: Capability) -> bool:
    return capability in capabilities_for(roles)


def trials_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Trial]:
    if not user.is_authenticated:
        return Trial.objects.none()
    return Trial.objects.filter(memberships__user_id=user.pk).distinct()


class ArmView(StrEnum):
    """How a reader sees allocated arms."""

    REAL = "real"  # the arm's code and name
    BLINDED = "blinded"  # A / B
    MASKED = "masked"  # nothing, unless the participant was emergency-unblinded


def arm_view(roles: frozenset[str], trial: Trial) -> ArmView:
    if roles & {Role.UNBLINDED_STATISTICIAN, Role.ADMINISTRATOR} or trial.unblinded_at is not None:
        return ArmView.REAL
    if roles & {Role.COORDINATOR, Role.INVESTIGATOR, Role.SAFETY_CLINICIAN}:
        return ArmView.REAL if trial.open_label else ArmView.MASKED
    return ArmView.BLINDED


def allocation_order_hidden(roles: frozenset[str], trial: Trial) -> bool:
    """Whether this reader must not learn the time order of allocations: the trial conceals it and the
    reader enrolls (knowing which arms came last, an enroller of an open-label trial with permuted blocks
    can guess the next allocation). Roles that see the design's secrets know the sequence anyway."""
    caps = capabilities_for(roles)
    return trial.conceal_allocation_order and Capability.ENROLL in caps and Capability.VIEW_DESIGN_SECRETS not in caps
