from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from participants.models import Consent, ContactDetails, Participant, Status
from participants.selectors import consent_required_document
from participants.services import ContactInput, contact_update, participant_consent, participant_enroll
from tests import helpers
from trial.errors import Conflict, DomainError, InvalidTransition
from trial.models import AuditEvent
from trial.services import consent_document_publish

pytestmark = pytest.mark.django_db

CONTACT = ContactInput(
    full_name="Jamie  Doe", email="jamie@example.org", phone="+1 603 555 0100", timezone="America/New_York"
)


def test_it_records_consent_with_version_time_and_typed_name(trial, coordinator):
    participant = helpers.eligible(trial)
    consent = participant_consent(participant=participant, signed_name="  Jamie   Doe ", by=coordinator)
    participant.refresh_from_db()
    assert participant.status == Status.CONSENTED
    assert consent.document.version == "1.0"
    assert consent.signed_name == "Jamie Doe"
    assert consent.recorded_by == coordinator
    assert abs((consent.signed_at - timezone.now()).total_seconds()) < 5


def test_it_refuses_consent_to_a_superseded_or_unknown_version(trial):
    participant = helpers.eligible(trial)
    consent_document_publish(trial=trial, version="2.0", title="", text="New text", requires_reconsent=False, by=None)
    with pytest.raises(DomainError, match="superseded") as caught:
        participant_consent(participant=participant, signed_name="Jamie Doe", version="1.0", by=None)
    assert caught.value.field == "version"
    with pytest.raises(DomainError, match="no consent document version"):
        participant_consent(participant=participant, signed_name="Jamie Doe", version="9", by=None)
    assert participant_consent(participant=participant, signed_name="Jamie Doe", by=None).document.version == "2.0"


def test_it_refuses_an_empty_signature_or_a_future_signing_time(trial):
    participant = helpers.eligible(trial)
    with pytest.raises(DomainError) as caught:
        participant_consent(participant=participant, signed_name=" ", by=None)
    assert caught.value.field == "signed_name"
    with pytest.raises(DomainError) as caught:
        participant_consent(
            participant=participant, signed_name="Jamie Doe", signed_at=timezone.now() + timedelta(days=1), by=None
        )
    assert caught.value.field == "signed_at"
    assert not Consent.objects.exists()


def test_it_refuses_consent_from_an_ineligible_person(trial):
    participant = helpers.eligible(trial)
    ineligible = helpers.services.participant_screen(trial=trial, answers=helpers.answers(age=16), by=None)
    with pytest.raises(DomainError, match="ineligible"):
        participant_consent(participant=ineligible, signed_name="Sam Young", by=None)
    assert participant.status == Status.ELIGIBLE


def test_it_issues_sequential_study_ids_on_enrollment(trial, coordinator):
    first = participant_enroll(participant=helpers.consented(trial), contact=CONTACT, by=coordinator)
    second = participant_enroll(participant=helpers.consented(trial), contact=CONTACT, by=coordinator)
    assert (first.study_id, second.study_id) == ("TB-0001", "TB-0002")
    assert first.status == Status.ENROLLED
    assert first.enrolled_at is not None


def test_it_keeps_contact_details_apart_and_cleaned(trial):
    participant = participant_enroll(participant=helpers.consented(trial), contact=CONTACT, by=None)
    contact = ContactDetails.objects.get(participant=participant)
    assert (contact.full_name, contact.phone, contact.timezone) == ("Jamie Doe", "+16035550100", "America/New_York")
    participant_fields = {f.name for f in Participant._meta.get_fields()}
    assert not participant_fields & {"full_name", "email", "phone", "timezone"}


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        (ContactInput(full_name=""), "contact.full_name"),
        (ContactInput(full_name="Jamie Doe", email="not-an-email"), "contact.email"),
        (ContactInput(full_name="Jamie Doe", phone="call me"), "contact.phone"),
        (ContactInput(full_name="Jamie Doe"), "contact.email"),
        (ContactInput(full_name="Jamie Doe", email="j@example.org", timezone="Mars/Olympus"), "contact.timezone"),
    ],
)
def test_it_refuses_bad_contact_details_naming_the_field_and_writes_nothing(trial, contact, field):
    participant = helpers.consented(trial)
    with pytest.raises(DomainError) as caught:
        participant_enroll(participant=participant, contact=contact, by=None)
    assert caught.value.field == field
    participant.refresh_from_db()
    assert participant.status == Status.CONSENTED
    assert participant.study_id is None
    assert not ContactDetails.objects.exists()


def test_it_refuses_to_enroll_someone_who_has_not_consented(trial):
    participant = helpers.eligible(trial)
    with pytest.raises(InvalidTransition, match="eligible and cannot become enrolled"):
        participant_enroll(participant=participant, contact=CONTACT, by=None)


def test_the_database_refuses_a_study_id_before_enrollment(trial):
    participant = helpers.eligible(trial)
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(pk=participant.pk).update(study_id="TB-9999")


def test_a_new_consent_version_can_be_required_of_enrolled_participants(trial):
    participant = helpers.enrolled(trial)
    assert consent_required_document(participant) is None
    consent_document_publish(trial=trial, version="1.1", title="", text="Amended", requires_reconsent=True, by=None)
    required = consent_required_document(participant)
    assert required is not None and required.version == "1.1"
    with pytest.raises(DomainError, match=r"must consent to version 1\.1"):
        helpers.services.participant_randomize(participant=participant, by=None)
    participant_consent(participant=participant, signed_name="Jamie Doe", by=None)
    participant.refresh_from_db()
    assert participant.status == Status.ENROLLED  # re-consent does not move the lifecycle
    assert consent_required_document(participant) is None


def test_a_new_version_without_reconsent_leaves_enrolled_participants_current(trial):
    participant = helpers.enrolled(trial)
    consent_document_publish(trial=trial, version="1.1", title="", text="Typo fixed", requires_reconsent=False, by=None)
    assert consent_required_document(participant) is None


def test_it_refuses_a_second_consent_to_the_same_version(trial):
    participant = helpers.consented(trial)
    with pytest.raises(Conflict, match="already consented"):
        participant_consent(participant=participant, signed_name="Jamie Doe", by=None)


def test_contact_updates_are_audited_without_the_values(trial, coordinator):
    participant = participant_enroll(participant=helpers.consented(trial), contact=CONTACT, by=None)
    contact_update(
        participant=participant,
        contact=ContactInput(
            full_name="Jamie Doe", email="new@example.org", phone="+16035550100", timezone="America/New_York"
        ),
        by=coordinator,
    )
    assert ContactDetails.objects.get(participant=participant).email == "new@example.org"
    event = AuditEvent.objects.get(action="participant.contact_update")
    assert list(event.changes) == ["email"]
    assert "new@example.org" not in str(event.changes)


@pytest.mark.parametrize(
    ("raw", "region", "stored"),
    [
        ("603-555-0100", "US", "+16035550100"),
        ("(603) 555-0100", "US", "+16035550100"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+1 603 555 0100", None, "+16035550100"),
    ],
)
def test_phone_numbers_are_stored_in_e164_read_in_the_sites_country(raw, region, stored):
    assert ContactInput(full_name="Jamie Doe", phone=raw).cleaned(region=region).phone == stored


@pytest.mark.parametrize(
    ("raw", "region", "says"),
    [
        ("603-555-0100", None, "country code"),  # a site without a country: + is required
        ("call me", "US", "not a valid phone number"),
        ("123", "US", "not a valid phone number"),
        ("603-555-0100 ext 3", "US", "extension"),
    ],
)
def test_phone_numbers_that_cannot_be_read_are_refused_naming_the_field(raw, region, says):
    with pytest.raises(DomainError, match=says) as caught:
        ContactInput(full_name="Jamie Doe", phone=raw).cleaned(region=region)
    assert caught.value.field == "contact.phone"


def test_enrollment_reads_a_local_number_in_the_sites_country(trial):
    participant = helpers.consented(trial)  # the reference trial's one site is in the US
    contact = ContactInput(full_name="Jamie Doe", phone="603-555-0100", timezone="America/New_York")
    participant_enroll(participant=participant, contact=contact, by=None)
    assert ContactDetails.objects.get(participant=participant).phone == "+16035550100"


def test_consent_cannot_be_signed_before_the_screening(trial):
    participant = helpers.eligible(trial)
    early = participant.screened_at - timedelta(hours=1)
    with pytest.raises(DomainError, match="before the screening") as caught:
        participant_consent(participant=participant, signed_name="Jamie Doe", signed_at=early, by=None)
    assert caught.value.field == "signed_at"
    assert not Consent.objects.exists()


def test_the_migration_rewrites_stored_numbers_in_e164_and_keeps_what_it_cannot_read(trial):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("participants.migrations.0009_contact_phones_e164")
    stored = {}
    for raw in ("6035550100", "+16035550100", "+44 20 7946 0958", "0000000"):
        participant = helpers.enrolled(trial)
        ContactDetails.objects.filter(participant=participant).update(phone=raw)
        stored[raw] = participant
    migration.to_e164(apps, None)
    phones = {raw: ContactDetails.objects.get(participant=p).phone for raw, p in stored.items()}
    assert phones == {
        "6035550100": "+16035550100",  # read in the site's country (US)
        "+16035550100": "+16035550100",
        "+44 20 7946 0958": "+442079460958",
        "0000000": "0000000",  # not a number: kept as it was
    }
