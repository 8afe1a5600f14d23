"""Crisis resources: where a participant in crisis can turn, shown on every questionnaire page and in
every invitation. A trial's own list (``Trial.crisis_resources``), else the deployment's
``settings.CRISIS_RESOURCES``, else the US defaults: a page is never without somewhere to turn."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from trial.models import Trial

logger = logging.getLogger(__name__)


class CrisisResource(TypedDict, total=False):
    name: str
    action: str
    href: str
    # Optional: the same service by text message (``sms:988``). The compact line on every page then reads
    # "Call or text 988" with both links; ``number`` is what the line shows (from the sms: address).
    sms: str
    number: str


# Used when the setting is missing or unusable: a page must never be without somewhere to turn.
# Their wording is in the message catalogue, so the default resources show translated in a translated
# page (the names and numbers of another country's services come from the setting instead).
FALLBACK_CRISIS_RESOURCES: tuple[CrisisResource, ...] = (
    {
        "name": gettext_noop("988 Suicide & Crisis Lifeline"),
        "action": gettext_noop("Call or text 988"),
        "href": "tel:988",
        "sms": "sms:988",
    },
    {"name": gettext_noop("Emergency services"), "action": gettext_noop("Call 911"), "href": "tel:911"},
)
SAFE_SCHEMES = frozenset({"tel", "sms", "https", "http", "mailto"})


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def _valid_resource(entry: Any) -> CrisisResource | None:
    if not isinstance(entry, Mapping):
        return None
    name, action, href = _text(entry, "name"), _text(entry, "action"), _text(entry, "href")
    if not (name and action and href) or urlsplit(href).scheme.lower() not in SAFE_SCHEMES:
        return None
    resource: CrisisResource = {"name": gettext(name), "action": gettext(action), "href": href}
    sms = _text(entry, "sms")
    number = urlsplit(sms).path.strip() if urlsplit(sms).scheme.lower() == "sms" else ""
    if number:
        resource["sms"], resource["number"] = sms, number
    elif sms:
        logger.error("A crisis resource's sms must be an sms: address such as sms:988; left out: %r", sms)
    return resource


def crisis_resources_for(trial: Trial | None) -> list[CrisisResource]:
    """The crisis resources shown to a trial's participants (``trial`` is None when the link is unknown).

    The trial's own ``crisis_resources`` (a trial in another country), else ``settings.CRISIS_RESOURCES``;
    each a list of ``{"name", "action", "href"}`` with an optional ``"sms"`` (``sms:988``). A malformed
    entry is logged and left out, never shown as a broken link; with none left the US defaults are used.
    """
    configured = (
        (trial.crisis_resources if trial is not None else None) or getattr(settings, "CRISIS_RESOURCES", None) or []
    )
    resources = []
    for index, entry in enumerate(configured):
        valid = _valid_resource(entry)
        if valid is None:
            logger.error(
                "settings.CRISIS_RESOURCES[%d] needs name, action and a tel:/sms:/https: href: %r", index, entry
            )
            continue
        resources.append(valid)
    if not resources:
        resources = [valid for entry in FALLBACK_CRISIS_RESOURCES if (valid := _valid_resource(entry))]
    return resources
