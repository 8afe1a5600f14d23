"""Online recruitment of one trial: the join address and its QR code for flyers, what became of the people
who joined online, the review queue (approve: enroll; decline, with a reason) and the check of a consent
copy's hash. The decisions go through participants.services.joining, which audits them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from participants.models import JoinApplication, JoinStatus, Participant, Status
from participants.services import joining
from trial.access import Capability
from trial.audit import audit_record
from trial.errors import DomainError
from workspace.access import Desk, trial_page


def join_url(desk: Desk) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/join/{desk.trial.slug}/"


def _qr_svg(url: str, *, scale: int = 6) -> str:
    import segno

    return str(segno.make(url, error="m").svg_inline(scale=scale, title="QR code of the join address"))


def _back(desk: Desk) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("workspace:recruitment", kwargs={"slug": desk.trial.slug}))


@trial_page()
def recruitment(request: HttpRequest, desk: Desk) -> HttpResponse:
    trial = desk.trial
    counts = dict(JoinApplication.objects.filter(trial=trial).values_list("status").annotate(n=Count("id")).order_by())
    online_counts = [(label, counts.get(value, 0)) for value, label in JoinStatus.choices]
    ineligible = Participant.objects.filter(trial=trial, status=Status.INELIGIBLE).count()
    queue = (
        JoinApplication.objects.filter(trial=trial, status=JoinStatus.REVIEW)
        .select_related("participant", "document")
        .order_by("verified_at", "id")
        if desk.can(Capability.ENROLL)
        else JoinApplication.objects.none()
    )
    check = None
    digest = request.GET.get("hash", "").strip()
    check_error = ""
    if digest:
        try:
            check = joining.consent_hash_verify(trial=trial, digest=digest)
        except DomainError as exc:
            check_error = exc.message
        else:
            audit_record(
                actor=request.user,
                action="join.hash_verify",
                obj=check.application or trial,
                trial=trial,
                changes={"hash": [None, digest], "found": [None, check.application is not None]},
            )
    context = {
        "desk": desk,
        "section": "recruitment",
        "join_url": join_url(desk),
        "qr_svg": mark_safe(_qr_svg(join_url(desk))),  # noqa: S308  # segno's own SVG of our own address
        "joining_open": joining.joining_open(trial),
        "mode": trial.get_online_joining_display(),
        "online_counts": online_counts,
        "ineligible": ineligible,
        "queue": list(queue),
        "show_contact": desk.can(Capability.VIEW_CONTACT),
        "digest": digest,
        "check": check,
        "check_error": check_error,
    }
    return render(request, "workspace/recruitment.html", context)


@trial_page()
def qr_code(request: HttpRequest, desk: Desk) -> HttpResponse:
    """The QR code of the join address as an SVG file, for a flyer."""
    import segno

    svg = segno.make(join_url(desk), error="m")
    from io import BytesIO

    out = BytesIO()
    svg.save(out, kind="svg", scale=10, title=f"Join {desk.trial.slug}")
    response = HttpResponse(out.getvalue(), content_type="image/svg+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="join-{desk.trial.slug}-qr.svg"'
    return response


@require_POST
@trial_page(Capability.ENROLL)
def approve(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    application = get_object_or_404(JoinApplication, trial=desk.trial, pk=pk)
    try:
        participant = joining.join_approve(application=application, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Enrolled as {participant.study_id}; their baseline link is on its way.")
    return _back(desk)


@require_POST
@trial_page(Capability.ENROLL)
def decline(request: HttpRequest, desk: Desk, pk: int) -> HttpResponse:
    application = get_object_or_404(JoinApplication, trial=desk.trial, pk=pk)
    try:
        joining.join_decline(application=application, reason=request.POST.get("reason", ""), by=request.user)
    except DomainError as exc:
        messages.error(request, f"Application #{pk}: {exc.message}")
    else:
        messages.success(request, f"Application #{pk} declined.")
    return _back(desk)


urls: list[URLPattern] = [
    path("recruitment/", recruitment, name="recruitment"),
    path("recruitment/qr.svg", qr_code, name="recruitment-qr"),
    path("recruitment/<int:pk>/approve/", approve, name="recruitment-approve"),
    path("recruitment/<int:pk>/decline/", decline, name="recruitment-decline"),
]
