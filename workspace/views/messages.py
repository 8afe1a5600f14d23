"""The message log of a trial (and, filtered, of one participant), and the retry of a failed message.

What a reader sees and may retry is decided in workspace.message_log; the retry itself is
participants.messaging.outbox_retry.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from participants.messaging import outbox_retry, registered_kinds
from participants.models import Channel, MessageStatus, Participant
from trial.access import Capability
from trial.errors import DomainError
from workspace import message_log
from workspace.access import CAPABILITY_NAMES, Desk, trial_page

PAGE_SIZE = 50
STATES = [(value, message_log.STATE_WORDS[MessageStatus(value)][0]) for value in MessageStatus.values]


def _participant(desk: Desk, study_id: str) -> Participant | None:
    return Participant.objects.filter(trial=desk.trial, study_id__iexact=study_id).first() if study_id else None


@trial_page()
def message_list(request: HttpRequest, desk: Desk) -> HttpResponse:
    chosen = {key: request.GET.get(key, "").strip() for key in ("state", "kind", "channel", "participant")}
    rows = message_log.messages_visible(desk)
    if chosen["state"] in MessageStatus.values:
        rows = rows.filter(status=chosen["state"])
    if chosen["kind"]:
        rows = rows.filter(kind=chosen["kind"])
    if chosen["channel"] in Channel.values:
        rows = rows.filter(channel=chosen["channel"])
    one = _participant(desk, chosen["participant"])
    if one is not None:
        rows = rows.filter(Q(subject_id=one.pk))
    elif chosen["participant"]:
        matching = Participant.objects.filter(trial=desk.trial, study_id__icontains=chosen["participant"])
        rows = rows.filter(Q(subject_id__in=matching.values("pk")))
    rows = rows.select_related("user").order_by("-created_at", "-id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    kinds = sorted(
        (kind, message_log.kind_in_words(kind))
        for kind in registered_kinds()
        if kind not in message_log.STAFF_KINDS or message_log.sees_staff_notifications(desk)
    )
    query = {key: value for key, value in chosen.items() if value}
    return render(
        request,
        "workspace/messages.html",
        {
            "desk": desk,
            "page": page,
            "rows": message_log.rows_for(desk, list(page.object_list)),
            "chosen": chosen,
            "one": one,
            "states": STATES,
            "kinds": sorted(kinds, key=lambda pair: pair[1]),
            "channels": Channel.choices,
            "query": urlencode(query),
            "here": request.get_full_path(),
            "show_to": desk.can(Capability.VIEW_CONTACT) or message_log.sees_staff_notifications(desk),
        },
    )


@require_POST
@trial_page()
def message_retry(request: HttpRequest, desk: Desk, message_id: int) -> HttpResponse:
    message = message_log.messages_visible(desk).filter(pk=message_id).first()
    if message is None:
        raise Http404("No such message in this trial.")
    needed = message_log.retry_capability(message.kind)
    if not desk.can(needed):
        raise PermissionDenied(f"Your role in this trial does not allow you to {CAPABILITY_NAMES[needed]}.")
    try:
        outbox_retry(message=message, by=request.user, trial=desk.trial)
    except DomainError as error:
        flash.warning(request, str(error))
    else:
        flash.success(request, f"{message_log.kind_in_words(message.kind)} {message.pk} is queued to be sent again.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect(reverse("workspace:messages", kwargs={"slug": desk.trial.slug}))


urls: list[URLPattern] = [
    path("messages/", message_list, name="messages"),
    path("messages/<int:message_id>/retry/", message_retry, name="message-retry"),
]
