"""A coordinator screens, consents, enrolls and randomizes entirely through the admin pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from participants.models import Allocation, Consent, ContactDetails, Participant, Status
from tests import helpers
from tests.admin import login
from trial.models import AuditEvent, Trial
from trial.services import trial_set_status

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


def screen_url(trial: Trial) -> str:
    return reverse("admin:participants_participant_screen", args=[trial.slug])


def url(view: str, participant: Participant) -> str:
    return reverse(f"admin:participants_participant_{view}", args=[participant.pk])


@pytest.fixture
def carol(client: Client, coordinator: Any) -> Client:
    return login(client, coordinator)


def test_it_runs_screening_to_randomization_through_the_admin(carol: Client, trial: Trial) -> None:
    page = carol.get(screen_url(trial))
    assert page.status_code == 200
    assert "Age in years" in page.content.decode()

    result = carol.post(screen_url(trial), ELIGIBLE_FORM)
    assert result.status_code == 200
    assert 'id="screening-outcome">Eligible<' in result.content.decode()
    participant = Participant.objects.get(trial=trial)
    assert participant.status == Status.ELIGIBLE
    assert participant.strata == {"condition": "MDD"}
    assert participant.screening_answers["us_resident"] is True
    assert participant.screening_answers["bipolar"] is False
    assert "gadq4_score" not in participant.screening_answers
    assert participant.study_id is None

    consent_page = carol.get(url("consent", participant))
    assert consent_page.status_code == 200
    body = consent_page.content.decode()
    assert "version 1.0" in body
    assert "You are invited to take part in a research study" in body
    response = carol.post(
        url("consent", participant), {"signed_name": "Jamie  Doe", "confirmed": "on", "version": "1.0"}
    )
    assert response.status_code == 302
    assert response["Location"] == url("change", participant)
    participant.refresh_from_db()
    assert participant.status == Status.CONSENTED
    consent = Consent.objects.get(participant=participant)
    assert consent.signed_name == "Jamie Doe"
    assert consent.document.version == "1.0"

    response = carol.post(
        url("enroll", participant),
        {"full_name": "Jamie Doe", "email": "jamie@example.org", "phone": "", "timezone": "America/New_York"},
    )
    assert response.status_code == 302
    participant.refresh_from_db()
    assert participant.status == Status.ENROLLED
    assert participant.study_id == "TB-0001"
    contact = ContactDetails.objects.get(participant=participant)
    assert (contact.full_name, contact.email, contact.timezone) == (
        "Jamie Doe",
        "jamie@example.org",
        "America/New_York",
    )

    refused = carol.post(url("randomize", participant))
    assert "baseline questionnaires are completed" in " ".join(refused.context["form"].non_field_errors())
    helpers.complete_baseline(participant)  # the participant fills them from their link

    confirm = carol.get(url("randomize", participant))
    assert confirm.status_code == 200
    assert not Allocation.objects.filter(participant=participant).exists()  # a GET never randomizes

    result = carol.post(url("randomize", participant))
    assert result.status_code == 200
    participant.refresh_from_db()
    assert participant.status == Status.RANDOMIZED
    allocation = Allocation.objects.select_related("arm").get(participant=participant)
    body = result.content.decode()
    assert "TB-0001" in body
    assert allocation.arm.name in body  # open label: the coordinator sees the arm
    assert list(
        AuditEvent.objects.filter(object_id=str(participant.pk), object_type="participants.participant")
        .order_by("at", "id")
        .values_list("action", flat=True)
    ) == ["participant.screen", "participant.consent", "participant.enroll", "participant.randomize"]

    detail = carol.get(url("change", participant))
    assert detail.status_code == 200
    body = detail.content.decode()
    assert allocation.arm.name in body
    assert "jamie@example.org" in body  # coordinators may see contact details
    assert url("withdraw", participant) in body
    assert url("complete", participant) in body
    assert url("randomize", participant) not in body


def test_it_records_an_ineligible_screening_with_its_reasons(carol: Client, trial: Trial) -> None:
    result = carol.post(screen_url(trial), {**ELIGIBLE_FORM, "age": "16", "bipolar": "yes"})
    assert result.status_code == 200
    body = result.content.decode()
    assert 'id="screening-outcome">Ineligible<' in body
    assert "Younger than 18" in body
    assert "Bipolar I or II disorder" in body
    participant = Participant.objects.get(trial=trial)
    assert participant.status == Status.INELIGIBLE
    assert {r["rule"] for r in participant.ineligibility_reasons} == {"adult", "no_bipolar"}
    assert participant.study_id is None


def test_a_bad_screening_form_names_the_fields_and_creates_nobody(carol: Client, trial: Trial) -> None:
    data = {**ELIGIBLE_FORM, "age": "thirty", "condition": "OCD"}
    del data["us_resident"]  # a required yes/no left unanswered is not a "no"
    response = carol.post(screen_url(trial), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"age", "condition", "us_resident"}
    assert "errornote" in response.content.decode()
    assert not Participant.objects.exists()


def test_a_refusal_by_the_screening_service_is_a_form_error(carol: Client, trial: Trial) -> None:
    trial_set_status(trial=trial, status="closed", by=None)
    response = carol.post(screen_url(trial), ELIGIBLE_FORM)
    assert response.status_code == 200
    assert "not recruiting" in " ".join(response.context["form"].non_field_errors())
    assert not Participant.objects.exists()


def test_it_needs_the_confirmation_and_a_signature_to_record_consent(carol: Client, trial: Trial) -> None:
    participant = helpers.eligible(trial)
    response = carol.post(url("consent", participant), {"signed_name": "J", "confirmed": "on", "version": "1.0"})
    assert response.status_code == 200
    assert "signed_name" in response.context["form"].errors  # the service's refusal, under the field
    response = carol.post(url("consent", participant), {"signed_name": "Jamie Doe", "version": "1.0"})
    assert "confirmed" in response.context["form"].errors
    participant.refresh_from_db()
    assert participant.status == Status.ELIGIBLE
    assert not Consent.objects.exists()


def test_it_refuses_enrollment_without_a_way_to_reach_the_participant(carol: Client, trial: Trial) -> None:
    participant = helpers.consented(trial)
    response = carol.post(url("enroll", participant), {"full_name": "Jamie Doe", "timezone": "UTC"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    response = carol.post(url("enroll", participant), {"full_name": "Jamie Doe", "phone": "12", "timezone": "UTC"})
    assert "phone" in response.context["form"].errors
    participant.refresh_from_db()
    assert participant.status == Status.CONSENTED
    assert participant.study_id is None


def test_a_second_randomization_is_an_error_on_the_page_not_a_second_allocation(carol: Client, trial: Trial) -> None:
    participant = helpers.ready_to_randomize(trial)
    assert carol.post(url("randomize", participant)).status_code == 200
    again = carol.post(url("randomize", participant))
    assert again.status_code == 200
    assert "already randomized" in " ".join(again.context["form"].non_field_errors())
    assert Allocation.objects.filter(participant=participant).count() == 1


def test_it_withdraws_only_with_a_reason(carol: Client, trial: Trial) -> None:
    participant = helpers.randomized(trial)
    response = carol.post(url("withdraw", participant), {"reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    response = carol.post(url("withdraw", participant), {"reason": "Moved abroad"})
    assert response.status_code == 302
    participant.refresh_from_db()
    assert (participant.status, participant.ended_reason) == (Status.WITHDRAWN, "Moved abroad")


def test_it_marks_lost_to_follow_up_brings_back_and_completes(carol: Client, trial: Trial) -> None:
    participant = helpers.randomized(trial)
    assert carol.post(url("lost", participant), {"reason": "No answer for 3 weeks"}).status_code == 302
    participant.refresh_from_db()
    assert participant.status == Status.LOST_TO_FOLLOW_UP
    assert carol.post(url("return", participant), {"reason": "Called back"}).status_code == 302
    participant.refresh_from_db()
    assert participant.status == Status.RANDOMIZED
    assert carol.post(url("complete", participant)).status_code == 302
    participant.refresh_from_db()
    assert participant.status == Status.COMPLETED


def test_an_action_the_lifecycle_forbids_is_an_error_on_the_page(carol: Client, trial: Trial) -> None:
    participant = helpers.eligible(trial)
    response = carol.post(url("complete", participant))
    assert response.status_code == 200
    assert "cannot become completed" in " ".join(response.context["form"].non_field_errors())
    participant.refresh_from_db()
    assert participant.status == Status.ELIGIBLE


def test_it_updates_contact_details(carol: Client, trial: Trial) -> None:
    participant = helpers.enrolled(trial)
    page = carol.get(url("contact", participant))
    assert page.context["form"].initial["email"] == "jamie@example.org"
    response = carol.post(
        url("contact", participant),
        {"full_name": "Jamie Doe", "email": "", "phone": "+16035550100", "timezone": "America/Chicago"},
    )
    assert response.status_code == 302
    contact = ContactDetails.objects.get(participant=participant)
    assert (contact.email, contact.phone, contact.timezone) == ("", "+16035550100", "America/Chicago")


def test_the_changelist_links_screening_for_each_trial_the_user_enrolls_in(
    carol: Client, trial: Trial, other_trial: Trial
) -> None:
    body = carol.get(reverse("admin:participants_participant_changelist")).content.decode()
    assert screen_url(trial) in body
    assert screen_url(other_trial) not in body
