"""Who is looking at a workspace page, in which trial, and what they may do there.

Every trial page resolves the trial from its slug and the reader's roles in it in one query
(trial.access.membership_in). Someone without a membership gets the same 404 as for a trial that does not
exist; a member whose roles lack the page's capability gets a 403 naming what is missing. Arms are shown
as the API shows them (trial.access.arm_view): real, A/B, or masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, wraps
from typing import Any, Concatenate, ParamSpec
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from trial import access
from trial.access import ArmView, Capability
from trial.models import Trial

P = ParamSpec("P")

CAPABILITY_NAMES = {
    Capability.VIEW_TRIAL: "view the trial",
    Capability.MANAGE_TRIAL: "manage the trial",
    Capability.ENROLL: "screen, consent, enroll and follow participants",
    Capability.VIEW_CONTACT: "see contact details",
    Capability.VIEW_AUDIT: "read the audit trail",
    Capability.UNBLIND_PARTICIPANT: "unblind a participant",
    Capability.VIEW_DESIGN_SECRETS: "see the randomization design",
    Capability.HANDLE_SAFETY: "handle safety alerts",
    Capability.EXPORT: "export data",
}


@dataclass(frozen=True)
class Desk:
    """One reader in one trial: the trial, their roles and capabilities, and how arms are shown to them."""

    trial: Trial
    roles: frozenset[str]

    @cached_property
    def capabilities(self) -> frozenset[Capability]:
        return access.capabilities_for(self.roles)

    def can(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities

    @cached_property
    def arm_view(self) -> ArmView:
        return access.arm_view(self.roles, self.trial)

    @cached_property
    def order_hidden(self) -> bool:
        return access.allocation_order_hidden(self.roles, self.trial)

    @property
    def sees_arms(self) -> bool:
        """Whether the reader sees arms by name for every participant (not A/B, not masked)."""
        return self.arm_view == ArmView.REAL

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.trial.timezone)

    @property
    def flags(self) -> dict[str, bool]:
        """The capabilities as template-friendly booleans: ``desk.flags.enroll``."""
        return {c.value: c in self.capabilities for c in Capability}


def desk_for(request: HttpRequest, slug: str, capability: Capability = Capability.VIEW_TRIAL) -> Desk:
    found = access.membership_in(request.user, slug)
    if found is None:
        raise Http404("No such trial.")
    desk = Desk(trial=found[0], roles=found[1])
    if not desk.can(capability):
        raise PermissionDenied(f"Your role in this trial does not allow you to {CAPABILITY_NAMES[capability]}.")
    return desk


def trial_page(
    capability: Capability = Capability.VIEW_TRIAL,
) -> Callable[[Callable[Concatenate[HttpRequest, Desk, P], HttpResponse]], Callable[..., HttpResponse]]:
    """A view of one trial: signed in, a member, holding ``capability``. The view gets the Desk."""

    def decorate(view: Callable[Concatenate[HttpRequest, Desk, P], HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            desk = desk_for(request, slug, capability)
            request.desk = desk  # type: ignore[attr-defined]  # for the base template
            return view(request, desk, *args, **kwargs)

        return wrapped

    return decorate
