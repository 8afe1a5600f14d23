"""The participant's questionnaire pages, through the Django test client: a participant enrolled through
the real services, whose baseline visit is open, opens the link from the invitation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments.models import AccessLink, AssessmentStatus, DraftAnswers, Response, ScheduledAssessment
from assessments.services.links import link_create
from assessments.services.submission import response_submit
from assessments.services.sweep import close_due, open_due
from assessments.views import crisis_resources_for
from participants import services
from participants.models import SafetyAlert
from tests import helpers
from trial import clock as trial_clock
from trial.models import Trial

CRISIS_ALERT = re.compile(r'<section class="crisis-alert" role="alert"')


@pytest.fixture
def participant(trial: Trial) -> Any:
    return helpers.enrolled(trial)


@pytest.fixture
def baseline(participant: Any) -> ScheduledAssessment:
    assessment = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    assert assessment.status == AssessmentStatus.OPEN
    return assessment


@pytest.fixture
def url(baseline: ScheduledAssessment) -> str:
    """The path of the link an invitation carries."""
    return urlsplit(link_create(assessment=baseline)).path


def phq9(**overrides: int) -> dict[str, str]:
    """A filled-in PHQ-9 page: items 1-8 = 1, item 9 = 0, item 10 left out (it is optional)."""
    data = {f"phq9_{n}": "1" for n in range(1, 9)}
    data["phq9_9"] = "0"
    data.update({key: str(value) for key, value in overrides.items()})
    return data


def html(response: Any) -> str:
    return response.content.decode()


def test_the_link_shows_the_due_questionnaires_in_order_with_their_state(client: Client, url: str, baseline):
    response = client.get(url)
    page = html(response)
    assert response.status_code == 200
    assert '<html lang="en"' in page
    positions = [page.index(f'href="{url}{code}/"') for code in baseline.instruments]
    assert positions == sorted(positions)
    assert page.count("To do") == len(baseline.instruments)
    assert "Patient Health Questionnaire-9" in page
    assert f'href="{url}phq9/"' in page  # Start leads to the first questionnaire


def test_the_page_shows_neither_the_arm_nor_contact_details_nor_the_study_id(client: Client, url, participant):
    page = html(client.get(url)) + html(client.get(f"{url}phq9/"))
    for secret in ("Jamie", "jamie@example.org", "America/New_York", participant.study_id, "chatbot", "waitlist"):
        assert secret not in page


def test_a_follow_up_visit_does_not_show_the_arm(client: Client, trial: Trial):
    participant = helpers.randomized(trial)
    week4 = ScheduledAssessment.objects.get(participant=participant, visit__code="week4")
    open_due(now=week4.opens_at)
    path = urlsplit(link_create(assessment=week4)).path
    arm = participant.allocation.arm
    pages = [html(client.get(path))] + [html(client.get(f"{path}{code}/")) for code in week4.instruments]
    for page in pages:
        for secret in (arm.code, arm.name, "Therapy chatbot", "Waitlist", "waitlist", "chatbot"):
            assert secret not in page


@pytest.mark.parametrize("path", ["/q/not-a-real-token/", "/q/" + "x" * 300 + "/", "/q/%3Cscript%3E/phq9/", "/q/"])
def test_an_unknown_or_malformed_link_gets_a_friendly_404(client: Client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "This link does not work" in html(response)
    assert "<script>" not in html(response)
    assert "tel:988" in html(response)


def test_a_link_whose_final_slash_was_lost_still_opens(client: Client, url: str):
    response = client.get(url.rstrip("/"))
    assert response.status_code == 302
    assert response["Location"] == url


def test_an_expired_link_gets_a_friendly_410(client: Client, url: str):
    AccessLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    for path in (url, f"{url}phq9/"):
        response = client.get(path)
        assert response.status_code == 410
        assert "This link has expired" in html(response)
    response = client.post(f"{url}phq9/", phq9())
    assert response.status_code == 410
    assert not Response.objects.exists()


def test_a_cancelled_visit_is_closed_with_410(client: Client, url: str, participant):
    services.participant_withdraw(participant=participant, reason="Moved away", by=None)
    response = client.get(url)
    assert response.status_code == 410
    assert "This questionnaire is closed" in html(response)
    assert client.post(f"{url}phq9/", phq9()).status_code == 410
    assert not Response.objects.exists()


def test_a_missed_visit_is_closed_with_410(client: Client, url: str, baseline):
    close_due(now=baseline.closes_at)
    response = client.get(f"{url}phq9/")
    assert response.status_code == 410
    assert "This questionnaire is closed" in html(response)


def test_a_questionnaire_not_due_at_this_visit_is_a_friendly_404(client: Client, url: str):
    response = client.get(f"{url}waisr/")
    assert response.status_code == 404
    assert "Page not found" in html(response)


def test_each_item_is_a_fieldset_with_its_wording_and_labelled_radios(client: Client, url: str):
    page = html(client.get(f"{url}phq9/"))
    assert page.count("<fieldset") == 10
    assert "Little interest or pleasure in doing things" in page
    assert '<input type="radio" name="phq9_1" id="phq9_1-0" value="0">' in page
    assert '<label for="phq9_1-0" lang="en">Not at all</label>' in page
    assert "(optional)" in page  # item 10, the unscored difficulty question
    assert "Questionnaire 1 of 4" in page


def test_a_licensed_instrument_shows_its_installed_wording_never_a_placeholder(client: Client, url: str, baseline):
    # The invented test wording (tests/wording/) stands for a deployment's licensed wording file; without it
    # the page is an apology (tests/assessments/test_wording_languages.py).
    page = html(client.get(f"{url}gadq4/"))
    assert "Test item gadq4_1" in page
    assert "not installed" not in page


def test_a_phq9_submission_stores_the_score_and_shows_the_next_questionnaire(client: Client, url: str, baseline):
    response = client.post(f"{url}phq9/", phq9(phq9_3=3))
    assert response.status_code == 302
    assert response["Location"] == f"{url}gad7/"
    stored = Response.objects.get(assessment=baseline, instrument_code="phq9")
    assert stored.total == 10  # 7 items x 1 + item 3 = 3, item 9 = 0
    assert stored.band == "moderate"
    assert stored.source == "survey"
    assert "phq9_10" not in stored.answers  # the optional item was skipped
    page = html(client.get(response["Location"]))
    assert "Generalized Anxiety Disorder 7-item scale" in page
    assert "Questionnaire 2 of 4" in page
    assert not CRISIS_ALERT.search(page)
    assert "Done" in html(client.get(url))


def test_on_a_skip_pattern_instrument_only_the_items_the_score_needs_are_required(client: Client, url, baseline):
    response = client.post(f"{url}gadq4/", {})
    assert "Please answer question 1." in html(response)
    assert "question 2." not in html(response)
    response = client.post(f"{url}gadq4/", {"gadq4_1": "0"})
    assert response.status_code == 302
    assert Response.objects.get(assessment=baseline, instrument_code="gadq4").answers == {"gadq4_1": 0}


def test_a_validation_error_names_the_item_and_keeps_the_answers(client: Client, url: str):
    data = phq9(phq9_1=2)
    del data["phq9_3"]
    response = client.post(f"{url}phq9/", data)
    page = html(response)
    assert response.status_code == 400
    assert "<title>Error:" in page
    assert '<a href="#phq9_3-0">Please answer question 3.</a>' in page  # the summary links to the field
    assert 'id="phq9_3-error">Please answer question 3.</p>' in page
    assert 'aria-describedby="phq9_3-error"' in page
    assert '<input type="radio" name="phq9_1" id="phq9_1-2" value="2" checked>' in page
    assert '<input type="radio" name="phq9_9" id="phq9_9-0" value="0" checked>' in page
    assert "question 10" not in page
    assert not Response.objects.exists()


def test_a_value_that_is_not_an_option_is_refused_by_name(client: Client, url: str):
    response = client.post(f"{url}phq9/", phq9(phq9_4=7))
    assert response.status_code == 400
    assert "Please choose one of the answers to question 4." in html(response)
    assert not Response.objects.exists()


def test_save_and_continue_later_keeps_a_draft_and_the_page_reopens_with_it(client: Client, url: str, baseline):
    response = client.post(f"{url}phq9/", {"phq9_1": "2", "phq9_2": "3", "action": "save"})
    assert response.status_code == 302
    assert response["Location"] == f"{url}?saved=1"
    assert DraftAnswers.objects.get(assessment=baseline, instrument_code="phq9").answers == {"phq9_1": 2, "phq9_2": 3}
    assert not Response.objects.exists()
    overview = html(client.get(response["Location"]))
    assert "Your answers are saved" in overview
    assert "Started" in overview
    assert "Continue" in overview
    page = html(client.get(f"{url}phq9/"))
    assert 'id="phq9_1-2" value="2" checked' in page
    assert 'id="phq9_2-3" value="3" checked' in page
    assert "checked" not in page.split('name="phq9_3"', 1)[1].split("</fieldset>", 1)[0]


def test_submitting_after_a_draft_removes_it(client: Client, url: str, baseline):
    client.post(f"{url}phq9/", {"phq9_1": "2", "action": "save"})
    client.post(f"{url}phq9/", phq9())
    assert not DraftAnswers.objects.exists()
    assert Response.objects.filter(instrument_code="phq9").count() == 1


def test_a_double_submit_records_one_response(client: Client, url: str, baseline):
    first = client.post(f"{url}phq9/", phq9())
    second = client.post(f"{url}phq9/", phq9())
    assert first.status_code == second.status_code == 302
    assert second["Location"] == f"{url}gad7/"
    assert Response.objects.filter(assessment=baseline, instrument_code="phq9").count() == 1


def test_different_answers_after_submitting_get_a_friendly_already_submitted_page(client: Client, url, baseline):
    client.post(f"{url}phq9/", phq9())
    response = client.post(f"{url}phq9/", phq9(phq9_1=3))
    assert response.status_code == 409
    assert "Already submitted" in html(response)
    assert Response.objects.get(instrument_code="phq9").answers["phq9_1"] == 1


def test_an_answered_questionnaire_page_leads_on_to_the_next_one(client: Client, url: str):
    client.post(f"{url}phq9/", phq9())
    response = client.get(f"{url}phq9/")
    assert response.status_code == 302
    assert response["Location"] == f"{url}gad7/"


def test_the_last_questionnaire_leads_to_the_thank_you_page(client: Client, url: str, baseline):
    for code in baseline.instruments[:-1]:
        response_submit(
            assessment=baseline, instrument_code=code, answers=helpers.lowest_answers(code), source="survey"
        )
    last = baseline.instruments[-1]
    data = {key: str(value) for key, value in helpers.lowest_answers(last).items()}
    response = client.post(f"{url}{last}/", data)
    assert response["Location"] == url
    page = html(client.get(url))
    assert "Thank you" in page
    baseline.refresh_from_db()
    assert baseline.status == AssessmentStatus.COMPLETED
    # Sending the last page again (a double tap) changes nothing and still thanks the participant.
    assert client.post(f"{url}{last}/", data)["Location"] == url
    assert Response.objects.filter(assessment=baseline).count() == len(baseline.instruments)


def test_item_9_shows_crisis_resources_at_once_and_raises_a_safety_alert(client: Client, url: str, participant):
    response = client.post(f"{url}phq9/", phq9(phq9_9=1), follow=True)
    page = html(response)
    assert response.redirect_chain[-1][0] == f"{url}gad7/"
    match = CRISIS_ALERT.search(page)
    assert match is not None
    assert match.start() < page.index("<main")  # at the top, before the questionnaire
    assert "A study clinician will be in touch with you soon." in page
    assert '<a class="button button-crisis" href="tel:988">Call or text 988' in page
    alert = SafetyAlert.objects.get(participant=participant)
    assert alert.flag == "suicidal_ideation"
    assert not alert.urgent


def test_item_9_at_its_highest_raises_one_urgent_alert(client: Client, url: str, participant):
    page = html(client.post(f"{url}phq9/", phq9(phq9_9=3), follow=True))
    assert CRISIS_ALERT.search(page)
    assert list(SafetyAlert.objects.values_list("flag", "urgent")) == [("suicidal_ideation_severe", True)]


def test_crisis_resources_are_on_every_page(client: Client, url: str, baseline, participant):
    pages = [client.get(url), client.get(f"{url}phq9/"), client.post(f"{url}phq9/", {})]
    pages += [client.get("/q/nope/"), client.get(f"{url}waisr/")]
    for code in baseline.instruments:
        response_submit(
            assessment=baseline, instrument_code=code, answers=helpers.lowest_answers(code), source="survey"
        )
    pages += [client.get(url), client.post(f"{url}phq9/", phq9(phq9_1=3))]
    AccessLink.objects.update(expires_at=timezone.now())
    pages.append(client.get(url))
    assert [p.status_code for p in pages] == [200, 200, 400, 404, 404, 200, 409, 410]
    for response in pages:
        page = html(response)
        assert '<a href="tel:988">Call</a> or <a href="sms:988">text</a> 988' in page  # the compact line
        assert 'href="tel:911">Call 911</a>' in page
        assert not CRISIS_ALERT.search(page)  # nothing in these answers called for the alert


def test_crisis_resources_come_from_the_settings_and_bad_entries_are_left_out(settings, client, url, caplog):
    settings.CRISIS_RESOURCES = [
        {"name": "Samaritans", "action": "Call 116 123", "href": "tel:116123"},
        {"name": "Broken", "action": "Click", "href": "javascript:alert(1)"},
        {"name": "Incomplete"},
    ]
    page = html(client.get(url))
    assert 'href="tel:116123">Call 116 123</a>' in page
    assert "javascript:" not in page
    assert "Incomplete" not in page
    assert "tel:988" not in page
    assert "CRISIS_RESOURCES[1]" in caplog.text
    settings.CRISIS_RESOURCES = []
    assert [r["href"] for r in crisis_resources_for(None)] == ["tel:988", "tel:911"]


def test_a_trial_can_have_its_own_crisis_resources(settings, client, url, trial):
    settings.CRISIS_RESOURCES = [{"name": "Samaritans", "action": "Call 116 123", "href": "tel:116123"}]
    trial.crisis_resources = [{"name": "Lifeline Australia", "action": "Call 13 11 14", "href": "tel:131114"}]
    trial.save()
    page = html(client.get(url))
    assert 'href="tel:131114">Call 13 11 14</a>' in page
    assert "116123" not in page


def test_the_pages_are_plain_forms_that_work_without_javascript(url: str, baseline):
    client = Client(enforce_csrf_checks=True)
    page = html(client.get(f"{url}phq9/"))
    assert re.search(r'<form method="post" class="questionnaire"', page)
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<button type="submit" name="action" value="submit"' in page
    assert '<button type="submit" name="action" value="save"' in page
    assert "onclick" not in page
    assert "javascript:" not in page
    assert "<script>" not in page  # only the optional enhancement file, loaded with defer
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = client.post(f"{url}phq9/", {**phq9(), "csrfmiddlewaretoken": token.group(1), "action": "submit"})
    assert response.status_code == 302
    assert Response.objects.filter(assessment=baseline).count() == 1


def test_a_form_without_its_csrf_token_is_refused(url: str, settings):
    settings.CSRF_FAILURE_VIEW = "assessments.views.csrf_failure"
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"{url}phq9/", phq9())
    assert response.status_code == 403
    assert "Please try again" in html(response)
    assert "tel:988" in html(response)
    assert not Response.objects.exists()


def test_a_link_preview_fetching_the_page_changes_nothing(client: Client, url: str):
    assert client.head(url).status_code == 200
    assert client.head(f"{url}phq9/").status_code == 200
    assert not Response.objects.exists()
    assert not DraftAnswers.objects.exists()


def test_pages_are_not_cached_or_indexed(client: Client, url: str):
    response = client.get(url)
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_a_submitted_page_costs_a_fixed_handful_of_statements(client: Client, url: str, baseline):
    """Pins the participants' submission path: link; in one transaction the visit's lock, its responses so
    far, the insert and the draft's delete; then the responses again for the next page. The link's
    last-use time is written once a minute, not on every page; nothing is read before the service runs."""
    client.post(f"{url}phq9/", phq9())  # the first page of the sitting writes the link's last use
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"{url}gad7/", {f"gad7_{n}": "1" for n in range(1, 8)})
    assert response.status_code == 302
    assert response["Location"] == f"{url}{baseline.instruments[2]}/"  # phq9, gad7 answered: the third
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements.count("UPDATE") == 0, statements  # not the link again, and the visit is not complete
    assert len(statements) <= 9, statements


def test_the_link_remembers_its_last_use_to_the_minute(client: Client, url: str, baseline):
    link = AccessLink.objects.get(assessment=baseline)
    assert link.last_used_at is None
    start = timezone.now()
    clock_at = {"now": start}
    with trial_clock.use(lambda: clock_at["now"]):
        client.get(url)
        assert AccessLink.objects.get(pk=link.pk).last_used_at == start
        clock_at["now"] = start + timedelta(seconds=59)
        client.get(url)
        assert AccessLink.objects.get(pk=link.pk).last_used_at == start
        clock_at["now"] = start + timedelta(seconds=61)
        client.get(url)
        assert AccessLink.objects.get(pk=link.pk).last_used_at == start + timedelta(seconds=61)


def _unrecorded_alert(participant: Any) -> SafetyAlert:
    alert = SafetyAlert.objects.get(participant=participant)
    assert alert.details["recorded"] is False
    return alert


@pytest.mark.parametrize("refusal", ["expired", "cancelled", "missed"])
def test_a_risk_signal_sent_where_the_page_is_refused_still_raises_its_alert(client, url, participant, refusal):
    if refusal == "expired":  # the window closed while the page was open
        AccessLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif refusal == "cancelled":
        services.participant_withdraw(participant=participant, reason="Moved away", by=None)
    else:
        close_due(now=ScheduledAssessment.objects.get(participant=participant, visit__code="baseline").closes_at)
    response = client.post(f"{url}phq9/", phq9(phq9_9=2))
    assert response.status_code == 410
    assert not Response.objects.exists()
    alert = _unrecorded_alert(participant)
    assert (alert.flag, alert.urgent) == ("suicidal_ideation", False)
    assert refusal in alert.details["why"]
    assert url.split("/")[2] not in str(alert.details)  # the token is never written down


def test_a_page_refused_for_its_answers_still_raises_item_9(client: Client, url: str, participant):
    data = phq9(phq9_9=3)
    del data["phq9_3"]  # a question left out: the page is shown again
    assert client.post(f"{url}phq9/", data).status_code == 400
    alert = _unrecorded_alert(participant)
    assert (alert.flag, alert.urgent) == ("suicidal_ideation_severe", True)
    client.post(f"{url}phq9/", phq9(phq9_9=3))  # sent again, complete: recorded, and still one alert
    assert Response.objects.count() == 1 and SafetyAlert.objects.count() == 1


def test_a_page_or_draft_with_a_value_not_an_option_still_raises_a_valid_item_9(client: Client, url, participant):
    assert client.post(f"{url}phq9/", {**phq9(phq9_9=1), "phq9_4": "7", "action": "save"}).status_code == 400
    assert _unrecorded_alert(participant).flag == "suicidal_ideation"


def test_a_refused_page_raises_nothing_for_item_9_left_out_or_not_an_option(client: Client, url: str):
    data = phq9()
    del data["phq9_9"]
    assert client.post(f"{url}phq9/", data).status_code == 400  # the page asks for it again
    assert client.post(f"{url}phq9/", phq9(phq9_9=7)).status_code == 400
    assert client.post(f"{url}phq9/", phq9(phq9_9="x")).status_code == 400  # type: ignore[arg-type]
    assert not SafetyAlert.objects.exists()


@pytest.mark.parametrize("path", ["/q/not-a-real-token/phq9/", "/q/" + "x" * 300 + "/phq9/"])
def test_answers_sent_through_an_unknown_link_raise_nothing(client: Client, participant, path):
    response = client.post(path, phq9(phq9_9=3))
    assert response.status_code == 404 and "This link does not work" in html(response)
    assert not SafetyAlert.objects.exists()  # the link names nobody


def test_a_form_refused_for_its_csrf_cookie_still_raises_item_9(url: str, participant, settings):
    settings.CSRF_FAILURE_VIEW = "assessments.views.csrf_failure"
    client = Client(enforce_csrf_checks=True)
    assert client.post(f"{url}phq9/", phq9(phq9_9=1)).status_code == 403
    assert _unrecorded_alert(participant).flag == "suicidal_ideation"
    assert client.post("/q/not-a-real-token/phq9/", phq9(phq9_9=1)).status_code == 403
    assert client.post(f"{url}nope/", phq9(phq9_9=1)).status_code == 403
    assert SafetyAlert.objects.count() == 1
