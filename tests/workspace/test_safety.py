"""The safety queue in the workspace: a clinician sees every alert, the open urgent ones first, reads what
raised it in words, reaches the participant, and works the alert through acknowledge, contact and risk
assessment, and resolution; nobody else reaches it, and no internal field is editable anywhere."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail

from assessments.models import ScheduledAssessment
from assessments.services.submission import response_submit
from participants.messaging import outbox_deliver_due
from participants.models import AlertSource, AlertStatus, SafetyAlert
from participants.services.safety import safety_alert_acknowledge, safety_alert_raise
from tests import helpers
from trial import clock
from trial.models import AuditEvent, Role

pytestmark = pytest.mark.django_db

ARM_WORDS = ("Therapy chatbot", "Waitlist control", "waitlist", "Arm A", "Arm B")


def _alert(participant: Any, key: str, *, urgent: bool = False, flag: str = "suicidal_ideation", **kw: Any) -> Any:
    return safety_alert_raise(
        participant=participant,
        source=kw.pop("source", AlertSource.QUESTIONNAIRE),
        flag=flag,
        urgent=urgent,
        dedupe_key=key,
        details=kw.pop("details", {"instrument": "phq9", "visit": "baseline", "total": 12, "answers": {"phq9_9": 1}}),
        **kw,
    )


def _item9(participant: Any, value: int) -> SafetyAlert:
    """The participant answers the baseline PHQ-9 with item 9 = ``value`` (total 17 with value 2)."""
    assessment = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    answers = {f"phq9_{i}": 2 for i in range(1, 9)}
    answers["phq9_1"] = 1
    answers["phq9_9"] = value
    answers["phq9_10"] = 0
    response_submit(assessment=assessment, instrument_code="phq9", answers=answers, source="survey")
    return SafetyAlert.objects.get(participant=participant)


@pytest.fixture
def alert(trial: Any) -> Any:
    return _alert(helpers.enrolled(trial), "assessment:test:phq9:suicidal_ideation")


def _pages(trial: Any, alert: Any) -> list[str]:
    return [f"/workspace/{trial.slug}/safety/", f"/workspace/{trial.slug}/safety/{alert.pk}/"]


def test_the_roles_that_handle_safety_reach_the_queue_and_the_alert(
    web: Any, trial: Any, alert: Any, clinician: Any, investigator: Any, administrator: Any
) -> None:
    for user in (clinician, investigator, administrator):
        for path in _pages(trial, alert):
            assert web(user).get(path).status_code == 200, (user, path)


def test_other_roles_get_403_and_outsiders_404(
    web: Any, trial: Any, alert: Any, coordinator: Any, blinded_statistician: Any, unblinded_statistician: Any,
    outsider: Any,
) -> None:  # fmt: skip
    steps = ("acknowledge", "contact", "resolve")
    for user in (coordinator, blinded_statistician, unblinded_statistician):
        for path in _pages(trial, alert):
            assert web(user).get(path).status_code == 403, (user, path)
        for step in steps:
            response = web(user).post(f"/workspace/{trial.slug}/safety/{alert.pk}/{step}/", {"resolution": "x"})
            assert response.status_code == 403
    for path in _pages(trial, alert):
        assert web(outsider).get(path).status_code == 404
    for step in steps:
        assert web(outsider).post(f"/workspace/{trial.slug}/safety/{alert.pk}/{step}/").status_code == 404
    assert web(None).get(_pages(trial, alert)[0]).status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_an_alert_of_another_trial_is_not_found_by_its_id(
    web: Any, trial: Any, other_trial: Any, clinician: Any
) -> None:
    foreign = _alert(helpers.enrolled(other_trial), "foreign")
    assert web(clinician).get(f"/workspace/{trial.slug}/safety/{foreign.pk}/").status_code == 404
    assert web(clinician).post(f"/workspace/{trial.slug}/safety/{foreign.pk}/acknowledge/").status_code == 404


def test_the_queue_shows_open_urgent_first_then_open_acknowledged_resolved_newest_first(
    web: Any, trial: Any, clinician: Any
) -> None:
    p = helpers.enrolled(trial)
    t0 = clock.now() - timedelta(hours=5)
    old_routine = _alert(p, "a", now=t0)
    new_routine = _alert(p, "b", now=t0 + timedelta(hours=1))
    old_urgent = _alert(p, "c", urgent=True, flag="suicidal_ideation_severe", now=t0 + timedelta(minutes=10))
    acknowledged = _alert(p, "d", now=t0 + timedelta(hours=2))
    safety_alert_acknowledge(alert=acknowledged, by=clinician)
    resolved = _alert(p, "e", now=t0 + timedelta(hours=3))
    SafetyAlert.objects.filter(pk=resolved.pk).update(status=AlertStatus.RESOLVED)
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/").content.decode()
    shown = [int(m) for m in re.findall(rf"/workspace/{trial.slug}/safety/(\d+)/", page)]
    assert shown == [old_urgent.pk, new_routine.pk, old_routine.pk, acknowledged.pk, resolved.pk]


def test_urgency_is_a_word_in_a_badge_not_a_cross(web: Any, trial: Any, clinician: Any) -> None:
    p = helpers.enrolled(trial)
    _alert(p, "routine")
    _alert(p, "urgent", urgent=True, flag="suicidal_ideation_severe")
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/").content.decode()
    assert '<span class="badge badge-danger">Urgent</span>' in page
    assert '<span class="badge badge-muted">Routine</span>' in page
    assert "✗" not in page and "icon-no" not in page


def test_the_trigger_is_in_words_with_the_answer_the_total_and_the_visit(web: Any, trial: Any, clinician: Any) -> None:
    alert = _item9(helpers.enrolled(trial), 2)
    expected = "PHQ-9 item 9 answered &#x27;More than half the days&#x27; (2), total 17, Baseline visit"
    assert expected in web(clinician).get(f"/workspace/{trial.slug}/safety/").content.decode()
    assert expected in web(clinician).get(f"/workspace/{trial.slug}/safety/{alert.pk}/").content.decode()


def test_a_missing_item_9_and_a_chatbot_flag_read_as_such(web: Any, trial: Any, clinician: Any) -> None:
    p = helpers.enrolled(trial)
    _alert(p, "m", flag="safety_item_missing", details={"instrument": "phq9", "visit": "week4", "total": 9})
    _alert(
        p, "c", flag="crisis_language", urgent=True, source=AlertSource.CHATBOT,
        details={"severity": "high", "summary": "mentioned a plan"},
    )  # fmt: skip
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/").content.decode()
    assert "PHQ-9 item 9 missing, total 9, Week 4 (end of treatment) visit" in page
    assert "Chatbot crisis flag (severity high; mentioned a plan)" in page


def test_time_left_before_escalation_and_overdue(web: Any, trial: Any, clinician: Any) -> None:
    p = helpers.enrolled(trial)
    _alert(p, "soon", now=clock.now())  # 24 h to acknowledge
    _alert(p, "late", urgent=True, flag="suicidal_ideation_severe", now=clock.now() - timedelta(hours=3))
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/").content.decode()
    assert re.search(r"2[34] h \d+ min left", page)
    assert '<strong class="overdue">overdue 2 h' in page


def test_the_alert_page_shows_how_to_reach_the_participant_and_their_time(
    web: Any, trial: Any, clinician: Any, alert: Any
) -> None:
    contact = alert.participant.contact
    contact.phone = "+16035550100"
    contact.save()
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/{alert.pk}/").content.decode()
    assert 'href="tel:+16035550100">+1 603-555-0100</a>' in page
    assert 'href="mailto:jamie@example.org"' in page
    assert "America/New_York" in page and ("EST" in page or "EDT" in page)
    assert f'href="/workspace/{trial.slug}/participants/{alert.participant.pk}/"' in page


def test_a_clinician_acknowledges_records_contact_and_resolves(
    web: Any, trial: Any, clinician: Any, alert: Any
) -> None:
    client = web(clinician)
    base = f"/workspace/{trial.slug}/safety/{alert.pk}/"
    page = client.get(base).content.decode()
    assert "Acknowledge" in page and "Record contact and risk assessment" in page
    assert "Record the contact and risk assessment first" in page

    response = client.post(base + "acknowledge/")
    assert response.status_code == 302 and response["Location"] == base
    assert "Alert acknowledged." in client.get(base).content.decode()

    response = client.post(base + "contact/", {"notes": "Phoned; safety plan reviewed", "risk_level": "low"})
    assert response.status_code == 302 and response["Location"] == base
    page = client.get(base).content.decode()
    assert "Phoned; safety plan reviewed" in page and "Risk level: Low" in page

    response = client.post(base + "resolve/", {"resolution": "Low risk; follow-up call booked"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.risk_level, alert.resolved_by, alert.resolution) == (
        "resolved", clinician, "low", clinician, "Low risk; follow-up call booked",
    )  # fmt: skip
    page = client.get(base).content.decode()
    assert "Low risk; follow-up call booked" in page
    assert "Next steps" not in page


def test_the_risk_level_has_no_default_and_is_required(web: Any, trial: Any, clinician: Any, alert: Any) -> None:
    client = web(clinician)
    base = f"/workspace/{trial.slug}/safety/{alert.pk}/"
    form = client.get(base).content.decode()
    select = re.search(r'<select name="risk_level".*?</select>', form, re.S)
    assert select and '<option value="" selected>Choose the risk level' in select.group(0)
    response = client.post(base + "contact/", {"notes": "Phoned", "risk_level": ""})
    assert response.status_code == 400
    assert "Risk level: Choose the risk level from your assessment." in response.content.decode()
    response = client.post(base + "contact/", {"notes": "", "risk_level": "low"})
    assert "Contact notes: Describe the contact" in response.content.decode()
    alert.refresh_from_db()
    assert alert.contacted_at is None and alert.risk_level == "" and alert.status == AlertStatus.OPEN


def test_resolving_needs_a_resolution_and_a_contact_first(web: Any, trial: Any, clinician: Any, alert: Any) -> None:
    client = web(clinician)
    base = f"/workspace/{trial.slug}/safety/{alert.pk}/"
    response = client.post(base + "resolve/", {"resolution": "done"})
    assert response.status_code == 400
    assert "Record the contact and the risk assessment before resolving" in response.content.decode()
    client.post(base + "contact/", {"notes": "Phoned", "risk_level": "none"})
    response = client.post(base + "resolve/", {"resolution": "  "})
    assert response.status_code == 400 and "Resolution: Say how the alert was resolved." in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_a_replayed_post_is_recorded_once(web: Any, trial: Any, clinician: Any, investigator: Any, alert: Any) -> None:
    base = f"/workspace/{trial.slug}/safety/{alert.pk}/"
    client = web(clinician)
    assert client.post(base + "acknowledge/").status_code == 302
    again = web(investigator).post(base + "acknowledge/", follow=True)
    assert "already acknowledged (by clara)" in again.content.decode()
    contact = {"notes": "Phoned", "risk_level": "moderate", "risk_notes": "Plan in place"}
    assert client.post(base + "contact/", contact).status_code == 302
    assert "already recorded" in client.post(base + "contact/", contact, follow=True).content.decode()
    assert client.post(base + "resolve/", {"resolution": "Referred"}).status_code == 302
    assert (
        "already resolved" in client.post(base + "resolve/", {"resolution": "Referred"}, follow=True).content.decode()
    )
    replayed = client.post(base + "contact/", {"notes": "Later call", "risk_level": "low"}, follow=True)
    assert "This alert is resolved; nothing was changed." in replayed.content.decode()
    actions = list(AuditEvent.objects.filter(object_type="participants.safetyalert").values_list("action", flat=True))
    assert sorted(actions) == sorted(
        ["safety_alert.raise", "safety_alert.acknowledge", "safety_alert.contact", "safety_alert.resolve"]
    )


def test_the_contact_time_is_entered_in_the_trials_zone(web: Any, trial: Any, clinician: Any, alert: Any) -> None:
    local = alert.raised_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")) + timedelta(minutes=2)
    web(clinician).post(
        f"/workspace/{trial.slug}/safety/{alert.pk}/contact/",
        {"notes": "Phoned", "risk_level": "low", "contacted_at": local.strftime("%Y-%m-%dT%H:%M")},
    )
    alert.refresh_from_db()
    assert abs(alert.contacted_at - local.replace(second=0, microsecond=0)) < timedelta(seconds=1)


def test_no_internal_field_is_editable_and_the_admin_has_no_alert_pages(
    web: Any, trial: Any, clinician: Any, alert: Any
) -> None:
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/{alert.pk}/").content.decode()
    assert "dedupe" not in page and 'name="details"' not in page and alert.dedupe_key not in page
    clinician.is_staff = True
    clinician.save()
    assert web(clinician).get(f"/admin/participants/safetyalert/{alert.pk}/change/").status_code == 404
    assert web(clinician).get("/admin/participants/safetyalert/").status_code == 404


def test_the_alert_e_mail_links_to_the_workspace_alert_page(trial: Any, clinician: Any, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://trials.example.org/"
    alert = _alert(helpers.enrolled(trial), "mail")
    outbox_deliver_due()
    body = next(m.body for m in mail.outbox if "Safety alert" in m.subject)
    assert f"https://trials.example.org/workspace/{trial.slug}/safety/{alert.pk}/" in body
    assert "/admin/" not in body


def test_the_alert_page_offers_to_record_an_adverse_event(web: Any, trial: Any, clinician: Any, alert: Any) -> None:
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/{alert.pk}/").content.decode()
    assert f'href="/workspace/{trial.slug}/adverse-events/new/?alert={alert.pk}"' in page
    form = web(clinician).get(f"/workspace/{trial.slug}/adverse-events/new/?alert={alert.pk}").content.decode()
    assert f'value="{alert.participant.study_id}"' in form


def test_a_masked_clinician_sees_no_arm(web: Any, clinician: Any) -> None:
    trial = helpers.open_reference_trial(slug="masked-trial", study_id_prefix="MT", open_label=False)
    helpers.grant(trial, clinician, Role.SAFETY_CLINICIAN)
    participant = helpers.randomized(trial)
    alert = _alert(participant, "masked")
    for path in _pages(trial, alert):
        page = web(clinician).get(path).content.decode().replace(trial.title, "")  # the title names both arms
        assert not [w for w in ARM_WORDS if w in page], path
        assert "Masked" in page or path.endswith("/safety/")


def test_the_safety_nav_item_shows_for_safety_roles_only(
    web: Any, trial: Any, clinician: Any, coordinator: Any
) -> None:
    nav = f'href="/workspace/{trial.slug}/safety/"'
    assert nav in web(clinician).get(f"/workspace/{trial.slug}/").content.decode()
    assert nav not in web(coordinator).get(f"/workspace/{trial.slug}/").content.decode()


def test_the_cross_trial_queue_lists_every_trial_where_the_reader_handles_safety(
    web: Any, trial: Any, other_trial: Any, clinician: Any, coordinator: Any
) -> None:
    mine = _alert(helpers.enrolled(trial), "mine")
    helpers.grant(other_trial, clinician, Role.SAFETY_CLINICIAN)
    theirs = _alert(helpers.enrolled(other_trial), "theirs")
    third = helpers.open_reference_trial(slug="third-trial", study_id_prefix="TT")
    helpers.grant(third, clinician, Role.COORDINATOR)  # no safety role there
    hidden = _alert(helpers.enrolled(third), "hidden")
    client = web(clinician)
    page = client.get("/workspace/safety/").content.decode()
    assert f"/workspace/{trial.slug}/safety/{mine.pk}/" in page
    assert f"/workspace/{other_trial.slug}/safety/{theirs.pk}/" in page
    assert f"/safety/{hidden.pk}/" not in page
    assert (
        f'<td class="col-trial">{trial.slug}</td>' in page and f'<td class="col-trial">{other_trial.slug}</td>' in page
    )
    filtered = client.get(f"/workspace/safety/?trial={other_trial.slug}").content.decode()
    assert f"/safety/{theirs.pk}/" in filtered and f"/safety/{mine.pk}/" not in filtered
    unknown = client.get("/workspace/safety/?trial=third-trial").content.decode()
    assert f"/safety/{hidden.pk}/" not in unknown  # a trial where they do not handle safety filters to all
    assert web(coordinator).get("/workspace/safety/").status_code == 404
    assert web(None).get("/workspace/safety/").status_code == 302


def test_the_status_filter(web: Any, trial: Any, clinician: Any) -> None:
    p = helpers.enrolled(trial)
    open_alert = _alert(p, "o")
    done = _alert(p, "d")
    safety_alert_acknowledge(alert=done, by=clinician)
    page = web(clinician).get(f"/workspace/{trial.slug}/safety/?status=open").content.decode()
    assert f"/safety/{open_alert.pk}/" in page and f"/safety/{done.pk}/" not in page


@pytest.mark.parametrize("cross_trial", [False, True])
def test_the_queue_costs_the_same_queries_for_3_or_12_alerts(
    web: Any, trial: Any, clinician: Any, django_assert_max_num_queries: Any, cross_trial: bool
) -> None:
    client = web(clinician)
    path = "/workspace/safety/" if cross_trial else f"/workspace/{trial.slug}/safety/"

    def count(n: int) -> int:
        for i in range(n):
            _alert(helpers.enrolled(trial), f"q{cross_trial}{n}{i}")
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        SafetyAlert.objects.all().update(status=AlertStatus.RESOLVED)
        return len(queries)

    assert count(3) == count(12)
    with django_assert_max_num_queries(8):
        client.get(path)


def test_the_alert_page_query_count_is_pinned(
    web: Any, trial: Any, clinician: Any, alert: Any, django_assert_max_num_queries: Any
) -> None:
    client = web(clinician)
    with django_assert_max_num_queries(10):
        assert client.get(f"/workspace/{trial.slug}/safety/{alert.pk}/").status_code == 200
