"""The workspace's screening, consent, enrollment and randomization forms: who reaches them, what they
refuse, and that nothing is recorded wrongly or twice."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from participants.models import Allocation, Consent, ContactDetails, Participant, Status
from tests import helpers
from trial import clock
from trial.models import Arm, AuditEvent, Site, Trial
from trial.services import trial_set_status
from workspace import zones
from workspace.models import FormSubmission

pytestmark = pytest.mark.django_db

ELIGIBLE_FORM = {
    "site": "online",
    "age": "34",
    "us_resident": "yes",
    "condition": "MDD",
    "phq9_total": "14",
    "gadq4_score": "",
    "swed_high_risk": "",
    "suicidality_treatment": "no",
    "bipolar": "no",
    "psychosis": "no",
}
ENROLLERS = ["coordinator", "investigator"]
NOT_ENROLLERS = ["blinded_statistician", "unblinded_statistician", "clinician", "administrator"]


def base(trial: Trial) -> str:
    return f"/workspace/{trial.slug}"


def participant_page(participant: Participant) -> str:
    return f"/workspace/{participant.trial.slug}/participants/{participant.pk}/"


def page_url(view: str, participant: Participant) -> str:
    return f"/workspace/{participant.trial.slug}/participants/{participant.pk}/{view}/"


def once() -> str:
    return str(uuid.uuid4())


def key_in(response: Any) -> str:
    found = re.search(r'name="once" value="([0-9a-f-]{36})"', response.content.decode())
    assert found, "the form carries a one-time key"
    return found.group(1)


def html(response: Any) -> str:
    return str(response.content.decode())


@pytest.fixture
def carol(web: Any, coordinator: Any) -> Client:
    client: Client = web(coordinator)
    return client


# --- Who reaches the pages ------------------------------------------------------------------------


def _pages(trial: Trial) -> dict[str, str]:
    eligible = helpers.eligible(trial)
    consented = helpers.consented(trial)
    enrolled = helpers.enrolled(trial)
    return {
        "screen": f"{base(trial)}/screen/",
        "screening": f"{base(trial)}/screenings/{eligible.pk}/",
        "consent": page_url("consent", eligible),
        "enroll": page_url("enroll", consented),
        "randomize": page_url("randomize", enrolled),
    }


@pytest.mark.parametrize("role", ENROLLERS)
def test_enrollers_reach_every_form(request: Any, web: Any, trial: Trial, role: str) -> None:
    client = web(request.getfixturevalue(role))
    for name, path in _pages(trial).items():
        response = client.get(path)
        assert response.status_code == 200, name
        assert "Django administration" not in html(response)


@pytest.mark.parametrize("role", NOT_ENROLLERS)
def test_members_who_do_not_enroll_get_403_and_nothing_is_recorded(
    request: Any, web: Any, trial: Trial, role: str
) -> None:
    client = web(request.getfixturevalue(role))
    pages = _pages(trial)
    before = Participant.objects.count()
    for name, path in pages.items():
        assert client.get(path).status_code == 403, name
        assert client.post(path, {**ELIGIBLE_FORM, "once": once()}).status_code == 403, name
    assert Participant.objects.count() == before
    assert not Allocation.objects.exists()


def test_outsiders_get_404_on_every_form(web: Any, trial: Trial, outsider: Any) -> None:
    client = web(outsider)  # coordinator of another trial
    for name, path in _pages(trial).items():
        assert client.get(path).status_code == 404, name
        assert client.post(path, {**ELIGIBLE_FORM, "once": once()}).status_code == 404, name


def test_a_participant_of_another_trial_is_not_found_through_this_one(
    web: Any, trial: Trial, other_trial: Trial, coordinator: Any
) -> None:
    helpers.grant(other_trial, coordinator, "coordinator")
    elsewhere = helpers.eligible(other_trial)
    client = web(coordinator)
    assert client.get(f"{base(trial)}/participants/{elsewhere.pk}/consent/").status_code == 404
    assert client.get(f"{base(trial)}/screenings/{elsewhere.pk}/").status_code == 404


def test_anonymous_readers_are_sent_to_sign_in(web: Any, trial: Trial) -> None:
    response = web(None).get(f"{base(trial)}/screen/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_nav_offers_screening_only_to_enrollers(web: Any, trial: Trial, coordinator: Any, clinician: Any) -> None:
    link = f'href="{base(trial)}/screen/"'
    assert link in html(web(coordinator).get(f"{base(trial)}/"))
    assert link not in html(web(clinician).get(f"{base(trial)}/"))


# --- Screening ------------------------------------------------------------------------------------


def test_screening_redirects_to_its_result_which_links_to_consent(carol: Client, trial: Trial) -> None:
    form = carol.get(f"{base(trial)}/screen/")
    assert "Age in years" in html(form)
    response = carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "once": key_in(form)})
    participant = Participant.objects.get(trial=trial)
    assert response.status_code == 302
    assert response["Location"] == f"{base(trial)}/screenings/{participant.pk}/"
    assert participant.status == Status.ELIGIBLE
    assert participant.screening_answers["us_resident"] is True
    assert "gadq4_score" not in participant.screening_answers
    result = carol.get(response["Location"])
    body = html(result)
    assert 'id="screening-outcome">Eligible<' in body
    assert "Screening recorded." in body
    assert page_url("consent", participant) in body
    assert re.search(r"<time [^>]*>[^<]+ E[SD]T</time>", body)  # the time names its zone
    # Reloading the result page records nothing.
    carol.get(response["Location"])
    assert Participant.objects.count() == 1


def test_the_language_the_person_chose_is_asked_and_shown(carol: Client, trial: Trial) -> None:
    assert trial.languages == ["en", "es"]
    form = carol.get(f"{base(trial)}/screen/")
    assert 'name="language"' in html(form) and "Español" in html(form)
    response = carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "language": "es", "once": once()})
    assert response.status_code == 302
    spanish = Participant.objects.get(trial=trial)
    assert spanish.language == "es"
    assert "<dt>Language</dt><dd>Español</dd>" in html(carol.get(participant_page(spanish)))
    carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "once": once()})
    assert Participant.objects.exclude(pk=spanish.pk).get(trial=trial).language == "en"  # the trial's first
    refused = carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "language": "fr", "once": once()})
    assert refused.status_code == 200 and set(refused.context["form"].errors) == {"language"}
    assert Participant.objects.filter(trial=trial).count() == 2


def test_an_ineligible_screening_shows_its_reasons_and_no_consent_link(carol: Client, trial: Trial) -> None:
    data = {**ELIGIBLE_FORM, "age": "16", "bipolar": "yes", "once": once()}
    response = carol.post(f"{base(trial)}/screen/", data, follow=True)
    body = html(response)
    participant = Participant.objects.get(trial=trial)
    assert 'id="screening-outcome">Ineligible<' in body
    assert "Younger than 18" in body and "Bipolar I or II disorder" in body
    assert page_url("consent", participant) not in body
    assert participant.study_id is None


def test_a_blank_value_a_rule_needs_is_asked_for_and_nothing_is_recorded(carol: Client, trial: Trial) -> None:
    """The issue's case: PHQ-9 left blank for an MDD screen was recorded as "Ineligible: PHQ-9 below 10"."""
    before = Participant.objects.count()
    response = carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "phq9_total": "", "once": once()})
    assert response.status_code == 200
    assert Participant.objects.count() == before
    assert not AuditEvent.objects.filter(action="participant.screen").exists()
    body = html(response)
    assert "Nothing was recorded." in body
    assert '<a href="#id_phq9_total">PHQ-9 total at screening (0-27)</a>' in body
    assert "required to decide eligibility" in body
    assert "PHQ-9 below 10" not in body
    assert set(response.context["form"].errors) == {"phq9_total"}


def test_a_bad_screening_form_names_the_fields_and_creates_nobody(carol: Client, trial: Trial) -> None:
    data = {**ELIGIBLE_FORM, "age": "thirty", "condition": "OCD", "once": once()}
    del data["us_resident"]  # a required yes/no left unanswered is not a "no"
    response = carol.post(f"{base(trial)}/screen/", data)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"age", "condition", "us_resident"}
    assert not Participant.objects.exists()


def test_a_refusal_by_the_screening_service_is_shown_and_nothing_is_recorded(carol: Client, trial: Trial) -> None:
    trial_set_status(trial=trial, status="closed", by=None)
    response = carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "once": once()})
    assert response.status_code == 200
    assert "not recruiting" in html(response)
    assert 'name="age"' not in html(carol.get(f"{base(trial)}/screen/"))  # no form to fill in vain
    assert not Participant.objects.exists()
    assert not FormSubmission.objects.exists()  # refused: the key is not used up


def test_a_repeated_screening_submission_is_recorded_once(carol: Client, trial: Trial) -> None:
    data = {**ELIGIBLE_FORM, "once": key_in(carol.get(f"{base(trial)}/screen/"))}
    first = carol.post(f"{base(trial)}/screen/", data)
    again = carol.post(f"{base(trial)}/screen/", data)  # double click, or back and submit again
    assert Participant.objects.count() == 1
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert "already submitted and recorded" in html(carol.get(again["Location"]))


def test_a_form_without_its_key_is_refused_without_recording(carol: Client, trial: Trial) -> None:
    response = carol.post(f"{base(trial)}/screen/", ELIGIBLE_FORM)
    assert response.status_code == 200
    assert "reload the page" in html(response)
    assert not Participant.objects.exists()


def test_another_users_key_does_not_replay_their_result(
    web: Any, trial: Trial, coordinator: Any, investigator: Any
) -> None:
    key = once()
    web(coordinator).post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "once": key})
    web(investigator).post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "once": key})
    assert Participant.objects.count() == 2


# --- Consent --------------------------------------------------------------------------------------


def test_consent_time_is_entered_in_the_trials_zone_and_stored_in_utc(carol: Client, trial: Trial) -> None:
    with clock.use(clock.SimulatedClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))) as now:
        participant = helpers.eligible(trial)
        now.advance(timedelta(hours=4))  # type: ignore[attr-defined]
        form = carol.get(page_url("consent", participant))
        body = html(form)
        assert 'type="datetime-local"' in body
        assert "America/New_York" in body and "EST" in body  # the zone is named next to the field
        assert 'value="2026-12-04T11:00"' in body  # now (16:00 UTC) in New York
        response = carol.post(
            page_url("consent", participant),
            {
                "signed_name": "Jamie  Doe",
                "signed_at": "2026-12-04T09:30",
                "confirmed": "on",
                "version": "1.0",
                "once": key_in(form),
            },
        )
    assert response.status_code == 302
    assert response["Location"] == participant_page(participant)
    consent = Consent.objects.get(participant=participant)
    assert consent.signed_at == datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
    assert consent.signed_name == "Jamie Doe"
    participant.refresh_from_db()
    assert participant.status == Status.CONSENTED


@pytest.mark.parametrize(
    ("signed_at", "says"),
    [
        ("2026-12-04T15:00", "in the future"),  # 20:00 UTC, after the clock's 16:00
        ("2026-12-04T06:00", "before the screening"),  # 11:00 UTC, before the 12:00 screening
        ("04/12/2026 9:30", "Enter a valid date/time"),
    ],
)
def test_consent_time_in_the_future_or_before_screening_is_refused(
    carol: Client, trial: Trial, signed_at: str, says: str
) -> None:
    with clock.use(clock.SimulatedClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))) as now:
        participant = helpers.eligible(trial)
        now.advance(timedelta(hours=4))  # type: ignore[attr-defined]
        data = {"signed_name": "Jamie Doe", "signed_at": signed_at, "confirmed": "on", "version": "1.0"}
        response = carol.post(page_url("consent", participant), {**data, "once": once()})
    assert response.status_code == 200
    assert says in html(response)
    assert "signed_at" in response.context["form"].errors
    assert not Consent.objects.exists()


def test_consent_needs_the_confirmation_and_a_signature(carol: Client, trial: Trial) -> None:
    participant = helpers.eligible(trial)
    form = carol.get(page_url("consent", participant))
    signed_at = re.search(r'name="signed_at" value="([^"]+)"', html(form))
    assert signed_at
    data = {"signed_at": signed_at.group(1), "version": "1.0", "once": key_in(form)}
    response = carol.post(page_url("consent", participant), {**data, "signed_name": "J", "confirmed": "on"})
    assert "signed_name" in response.context["form"].errors  # the service's refusal, under the field
    response = carol.post(page_url("consent", participant), {**data, "signed_name": "Jamie Doe"})
    assert "confirmed" in response.context["form"].errors
    assert not Consent.objects.exists()


def test_a_repeated_consent_is_a_friendly_redirect_not_an_error(carol: Client, trial: Trial) -> None:
    participant = helpers.eligible(trial)
    form = carol.get(page_url("consent", participant))
    signed_at = re.search(r'name="signed_at" value="([^"]+)"', html(form))
    assert signed_at
    data = {"signed_name": "Jamie Doe", "signed_at": signed_at.group(1), "confirmed": "on", "version": "1.0"}
    first = carol.post(page_url("consent", participant), {**data, "once": key_in(form)})
    replay = carol.post(page_url("consent", participant), {**data, "once": key_in(form)})
    fresh_form = carol.post(page_url("consent", participant), {**data, "once": once()})  # reload, then submit
    assert first.status_code == replay.status_code == fresh_form.status_code == 302
    assert replay["Location"] == fresh_form["Location"] == participant_page(participant)
    assert Consent.objects.filter(participant=participant).count() == 1
    assert AuditEvent.objects.filter(action="participant.consent").count() == 1
    page = carol.get(page_url("consent", participant))
    assert 'id="consent-given"' in html(page) and 'name="signed_name"' not in html(page)


# --- Enrollment -----------------------------------------------------------------------------------


def test_the_timezone_select_lists_the_sites_country_first_and_defaults_to_the_trials_zone(
    carol: Client, trial: Trial
) -> None:
    participant = helpers.consented(trial)
    body = html(carol.get(page_url("enroll", participant)))
    values = re.findall(r'<option value="([^"]+)"', body.split('name="timezone"')[1].split("</select>")[0])
    assert values[:7] == [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ]
    assert values.index("Europe/London") > values.index("America/Detroit")  # other US zones before the world
    assert '<optgroup label="Zones in US">' in body
    assert '<option value="America/New_York" selected>' in body


def test_a_trial_zone_outside_the_sites_country_gives_way_to_the_countrys_most_populous(
    carol: Client, trial: Trial
) -> None:
    Site.objects.filter(trial=trial).update(country="GB")
    participant = helpers.consented(trial)
    body = html(carol.get(page_url("enroll", participant)))
    assert '<option value="Europe/London" selected>' in body


def test_zones_by_country_and_the_fallback_without_tz_tables(monkeypatch: Any) -> None:
    assert zones.country_zones("us")[:2] == ["America/New_York", "America/Chicago"]
    assert zones.country_zones("NO") == ["Europe/Oslo"]
    assert zones.country_zones("") == []
    assert zones.default_zone("US", "America/Denver") == "America/Denver"
    assert zones.default_zone("CA", "America/New_York") == "America/Toronto"
    assert zones.default_zone(None, "America/New_York") == "America/New_York"
    table = zones.read_table("#c\tcoord\tTZ\nCH,DE,LI\t+4723+00832\tEurope/Zurich\tBusingen\n")
    assert table == {"CH": ["Europe/Zurich"], "DE": ["Europe/Zurich"], "LI": ["Europe/Zurich"]}
    zones.country_table.cache_clear()
    monkeypatch.setattr(zones.zoneinfo, "TZPATH", ("/nonexistent",))
    try:
        assert zones.country_zones("US")[0] == "America/New_York"
        assert zones.country_zones("GB") == ["Europe/London"]
    finally:
        zones.country_table.cache_clear()


def test_enrollment_stores_a_local_phone_number_in_e164_and_redirects(carol: Client, trial: Trial) -> None:
    participant = helpers.consented(trial)
    form = carol.get(page_url("enroll", participant))
    data = {"full_name": "Jamie Doe", "email": "", "phone": "603-555-0100", "timezone": "America/Chicago"}
    response = carol.post(page_url("enroll", participant), {**data, "once": key_in(form)})
    assert response.status_code == 302
    assert response["Location"] == participant_page(participant)
    contact = ContactDetails.objects.get(participant=participant)
    assert (contact.phone, contact.timezone) == ("+16035550100", "America/Chicago")
    participant.refresh_from_db()
    assert (participant.status, participant.study_id) == (Status.ENROLLED, "TB-0001")
    again = carol.post(page_url("enroll", participant), {**data, "once": key_in(form)})
    assert again.status_code == 302
    assert ContactDetails.objects.count() == 1
    participant.refresh_from_db()
    assert participant.study_id == "TB-0001"


@pytest.mark.parametrize("phone", ["call me maybe", "12", "603-555-0100 ext 3"])
def test_enrollment_refuses_a_phone_number_it_cannot_read_naming_the_field(
    carol: Client, trial: Trial, phone: str
) -> None:
    participant = helpers.consented(trial)
    data = {"full_name": "Jamie Doe", "phone": phone, "timezone": "America/New_York", "once": once()}
    response = carol.post(page_url("enroll", participant), data)
    assert response.status_code == 200
    assert "phone" in response.context["form"].errors
    assert '<a href="#id_phone">Mobile phone</a>' in html(response)
    participant.refresh_from_db()
    assert participant.status == Status.CONSENTED and participant.study_id is None


def test_a_site_without_a_country_needs_the_country_code(carol: Client, trial: Trial) -> None:
    Site.objects.filter(trial=trial).update(country="")
    participant = helpers.consented(trial)
    data = {"full_name": "Jamie Doe", "phone": "603-555-0100", "timezone": "America/New_York", "once": once()}
    response = carol.post(page_url("enroll", participant), data)
    assert "country code" in " ".join(response.context["form"].errors["phone"])
    data = {**data, "phone": "+1 603 555 0100", "once": once()}
    assert carol.post(page_url("enroll", participant), data).status_code == 302
    assert ContactDetails.objects.get(participant=participant).phone == "+16035550100"


def test_enrollment_needs_a_way_to_reach_the_participant(carol: Client, trial: Trial) -> None:
    participant = helpers.consented(trial)
    data = {"full_name": "Jamie Doe", "timezone": "UTC", "once": once()}
    response = carol.post(page_url("enroll", participant), data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    participant.refresh_from_db()
    assert participant.study_id is None


def test_the_enroll_page_of_someone_not_consented_offers_no_form(carol: Client, trial: Trial) -> None:
    participant = helpers.eligible(trial)
    body = html(carol.get(page_url("enroll", participant)))
    assert 'id="enroll-not-due"' in body and 'name="full_name"' not in body


# --- Randomization --------------------------------------------------------------------------------


def test_before_the_baseline_the_page_says_why_with_no_form_error_and_no_button(carol: Client, trial: Trial) -> None:
    participant = helpers.enrolled(trial)
    page = carol.get(page_url("randomize", participant))
    body = html(page)
    assert page.status_code == 200
    assert "baseline questionnaires are completed" in body
    assert "Please correct" not in body and "errorlist" not in body
    assert 'type="submit"' not in body.split("<main")[1].split("</main>")[0].replace(
        '<button type="submit" class="link-button">Sign out', ""
    )
    posted = carol.post(page_url("randomize", participant), {"once": once()})
    assert posted.status_code == 200
    assert "baseline questionnaires are completed" in html(posted)
    assert not Allocation.objects.exists()


def test_randomizing_confirms_then_redirects_to_the_participant_page(carol: Client, trial: Trial) -> None:
    participant = helpers.ready_to_randomize(trial)
    confirm = carol.get(page_url("randomize", participant))
    assert "Randomize TB-0001 now" in html(confirm)
    assert not Allocation.objects.exists()  # a GET never randomizes
    response = carol.post(page_url("randomize", participant), {"once": key_in(confirm)})
    assert response.status_code == 302
    assert response["Location"] == participant_page(participant)
    allocation = Allocation.objects.select_related("arm").get(participant=participant)
    flashed = " ".join(str(m) for m in response.wsgi_request._messages)  # type: ignore[attr-defined]
    assert allocation.arm.name in flashed  # open label: the coordinator sees the arm
    again = carol.post(page_url("randomize", participant), {"once": key_in(confirm)})
    assert again.status_code == 302 and again["Location"] == participant_page(participant)
    assert Allocation.objects.filter(participant=participant).count() == 1
    later = carol.get(page_url("randomize", participant))
    assert "already randomized" in html(later) and "Randomize TB-0001 now" not in html(later)


def test_a_masked_coordinator_never_sees_the_arm(web: Any, coordinator: Any) -> None:
    masked = helpers.open_reference_trial(slug="masked", open_label=False, study_id_prefix="MK")
    helpers.grant(masked, coordinator, "coordinator")
    client = web(coordinator)
    participant = helpers.ready_to_randomize(masked)
    confirm = client.get(page_url("randomize", participant))
    response = client.post(page_url("randomize", participant), {"once": key_in(confirm)})
    assert response.status_code == 302
    assert Allocation.objects.filter(participant=participant).exists()
    flashed = " ".join(str(m) for m in response.wsgi_request._messages)  # type: ignore[attr-defined]
    assert "masked" in flashed
    shown = flashed + html(client.get(page_url("randomize", participant)))
    shown += html(client.get(f"/workspace/{masked.slug}/screenings/{participant.pk}/"))
    shown = shown.replace(masked.title, "")  # the trial's title names both arms, for everyone
    for arm in Arm.objects.filter(trial=masked):
        for secret in (arm.name, arm.code, f"Arm {arm.blinded_label}"):
            assert secret not in shown


def test_the_whole_path_is_audited_once_each(carol: Client, trial: Trial) -> None:
    carol.post(f"{base(trial)}/screen/", {**ELIGIBLE_FORM, "once": once()})
    participant = Participant.objects.get(trial=trial)
    form = carol.get(page_url("consent", participant))
    signed_at = re.search(r'name="signed_at" value="([^"]+)"', html(form))
    assert signed_at
    consent = {"signed_name": "Jamie Doe", "signed_at": signed_at.group(1), "confirmed": "on", "version": "1.0"}
    carol.post(page_url("consent", participant), {**consent, "once": once()})
    contact = {"full_name": "Jamie Doe", "email": "jamie@example.org", "timezone": "America/New_York"}
    carol.post(page_url("enroll", participant), {**contact, "once": once()})
    helpers.complete_baseline(participant)
    carol.post(page_url("randomize", participant), {"once": once()})
    assert list(
        AuditEvent.objects.filter(object_id=str(participant.pk), object_type="participants.participant")
        .order_by("at", "id")
        .values_list("action", flat=True)
    ) == ["participant.screen", "participant.consent", "participant.enroll", "participant.randomize"]


def test_the_randomization_pages_never_show_the_block_sizes(carol: Client, trial: Trial) -> None:
    waiting = helpers.enrolled(trial)
    ready = helpers.ready_to_randomize(trial)
    confirm = carol.get(page_url("randomize", ready))
    done = carol.post(page_url("randomize", ready), {"once": key_in(confirm)}, follow=True)
    for page in (carol.get(page_url("randomize", waiting)), confirm, done, carol.get(page_url("randomize", ready))):
        body = html(page)
        assert "Block" not in body and "block_size" not in body and "[2, 4, 6]" not in body


def test_contact_details_are_changed_with_the_same_checks(carol: Client, trial: Trial) -> None:
    participant = helpers.enrolled(trial)
    form = carol.get(page_url("contact", participant))
    assert form.context["form"].initial["email"] == "jamie@example.org"
    data = {"full_name": "Jamie Doe", "email": "", "phone": "(603) 555-0101", "timezone": "America/Chicago"}
    bad = carol.post(page_url("contact", participant), {**data, "phone": "nope", "once": key_in(form)})
    assert "phone" in bad.context["form"].errors
    response = carol.post(page_url("contact", participant), {**data, "once": key_in(form)})
    assert response.status_code == 302 and response["Location"] == participant_page(participant)
    contact = ContactDetails.objects.get(participant=participant)
    assert (contact.email, contact.phone, contact.timezone) == ("", "+16035550101", "America/Chicago")
    assert AuditEvent.objects.filter(action="participant.contact_update").count() == 1
    carol.post(page_url("contact", participant), {**data, "once": key_in(form)})  # replayed
    assert AuditEvent.objects.filter(action="participant.contact_update").count() == 1


@pytest.mark.parametrize(("role", "status"), [("clinician", 403), ("blinded_statistician", 403), ("outsider", 404)])
def test_contact_details_need_enroll_and_view_contact(
    request: Any, web: Any, trial: Trial, role: str, status: int
) -> None:
    participant = helpers.enrolled(trial)
    client = web(request.getfixturevalue(role))
    assert client.get(page_url("contact", participant)).status_code == status
    assert "jamie@example.org" not in html(client.get(page_url("contact", participant)))


@pytest.mark.parametrize("others", [3, 12])
def test_the_form_pages_read_a_constant_number_of_queries(
    carol: Client, trial: Trial, others: int, django_assert_num_queries: Any
) -> None:
    """Session, user and membership, then the page's own reads; the same with 3 or 12 other participants."""
    for _ in range(others):
        helpers.eligible(trial)
    pages = [
        (f"{base(trial)}/screen/", 6),
        (f"{base(trial)}/screenings/{helpers.eligible(trial).pk}/", 5),
        (page_url("consent", helpers.eligible(trial)), 6),
        (page_url("enroll", helpers.consented(trial)), 4),
        (page_url("randomize", helpers.enrolled(trial)), 8),
    ]
    for path, queries in pages:
        with django_assert_num_queries(queries):
            assert carol.get(path).status_code == 200
