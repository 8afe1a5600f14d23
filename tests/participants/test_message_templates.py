"""A trial's own message wording: registered kinds, versions (the newest sent), the check on save that
refuses what could not be sent, and the admin where it is entered and previewed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from assessments.models import AccessLink
from assessments.services.scheduling import INVITATION_KIND, REMINDER_KIND
from participants import message_templates as mt
from participants.messaging import outbox_deliver_due
from participants.models import MessageTemplate, OutboxMessage, Participant
from participants.services.safety import ALERT_KIND
from tests import helpers
from tests.admin import login
from tests.catalogue import compiled_locale, spanish_catalogue  # noqa: F401 (fixtures)
from trial.errors import Conflict
from trial.models import AuditEvent, Trial

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("spanish_catalogue")]


def _defaults(kind: str = INVITATION_KIND) -> dict[str, str]:
    sources = mt.default_sources(kind)
    return {"subject": sources.subject, "text": sources.text, "html": sources.html, "sms": sources.sms}


def _save(trial: Trial, by: Any = None, kind: str = INVITATION_KIND, language: str = "en", **parts: str) -> Any:
    return mt.message_template_save(
        trial=trial, kind=kind, language=language, by=by, **{**_defaults(kind), **parts}, reason="Ethics v2"
    )


def test_the_registry_holds_every_kind_with_its_defaults() -> None:
    kinds = {k.kind: k for k in mt.template_kinds()}
    assert set(kinds) >= {INVITATION_KIND, REMINDER_KIND, ALERT_KIND, "adverse_event_serious"}
    assert kinds[INVITATION_KIND].sms and not kinds[ALERT_KIND].sms and kinds[ALERT_KIND].staff
    for kind in kinds:
        sources = mt.default_sources(kind)
        assert sources.subject.strip() and sources.text.strip() and sources.html.strip()
    with pytest.raises(mt.TemplateRefused, match="Unknown message kind 'nope'"):
        mt.render_message("nope", trial=None, language="en", timezone="UTC", context={})  # type: ignore[arg-type]


def test_the_context_names_the_study_by_its_public_name(trial: Trial) -> None:
    for language in ("en", "es"):
        parts = mt.render_sample(INVITATION_KIND, trial=trial, language=language)
        assert parts.subject.startswith(trial.public_text(language)["name"])
        assert trial.title not in parts.subject + parts.text + parts.html
    assert mt.render_sample(INVITATION_KIND, trial=trial, language="es").subject == (
        "Estudio de Ánimo y Bienestar: sus cuestionarios de semana 4"
    )


def test_a_saved_version_is_sent_instead_of_the_defaults_in_its_language_only(trial: Trial, investigator: Any) -> None:
    _save(trial, investigator, subject="{{ study_name }}: time for your questionnaires")
    helpers.enrolled(trial)  # English: the invitation goes out at once
    spanish = helpers.eligible(trial)
    Participant.objects.filter(pk=spanish.pk).update(language="es")
    outbox_deliver_due()
    assert [m.subject for m in mail.outbox] == ["Mood and Wellbeing Study: time for your questionnaires"]
    other = helpers.open_reference_trial(slug="untouched", study_id_prefix="UT")
    assert mt.render_sample(INVITATION_KIND, trial=other, language="en").subject.endswith("your week 4 questionnaires")
    assert mt.render_sample(INVITATION_KIND, trial=trial, language="es").subject.startswith("Estudio")


def test_versions_count_up_per_trial_kind_and_language_and_are_audited(trial: Trial, investigator: Any) -> None:
    first = _save(trial, investigator, subject="{{ study_name }}: questionnaires (1)")
    second = _save(trial, investigator, subject="{{ study_name }}: questionnaires (2)")
    spanish = _save(trial, investigator, language="es", subject="{{ study_name }}: cuestionarios")
    reminder = _save(trial, investigator, kind=REMINDER_KIND)
    assert (first.version, second.version, spanish.version, reminder.version) == (1, 2, 1, 1)
    assert mt.current_template(trial=trial, kind=INVITATION_KIND, language="en") == second
    assert mt.render_sample(INVITATION_KIND, trial=trial, language="en").subject.endswith("(2)")
    events = AuditEvent.objects.filter(action="message_template.save", trial=trial).order_by("id")
    assert events.count() == 4
    assert events[1].actor_id == investigator.pk and events[1].reason == "Ethics v2"
    assert events[1].changes["version"] == [1, 2]
    first.subject = "changed"
    with pytest.raises(Conflict, match="kept as saved"):
        first.save()
    with pytest.raises(Conflict, match="kept as saved"):
        first.delete()


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ({"subject": "{% if study_name %}{{ study_name }}"}, "subject is not a valid template"),
        ({"text": "{{ url|nosuchfilter }}"}, "text is not a valid template"),
        ({"text": "Hello {{ frist_name }}, {{ url }}"}, r"text uses \{\{ frist_name \}\}"),
        ({"html": '<p>{% include "messages/nowhere.html" %}</p>'}, "fails to render"),
        ({"subject": "Your Therapy Chatbot questionnaires"}, "names an arm"),
        ({"subject": "{{ study_name }} (waitlist)"}, "names an arm"),
        (
            {"subject": "Generative-AI therapy chatbot versus waitlist control (Therabot-like reference trial)"},
            "names",
        ),
        ({"subject": "{{ study_name }}\nsecond line"}, "single line"),
        ({"subject": "{% if False %}x{% endif %}"}, "subject renders empty"),
        ({"subject": "  "}, "subject is empty"),
        ({"html": "<p>Hi</p><script>alert(1)</script>"}, "must not contain scripts"),
        ({"html": '<a href="javascript:alert(1)">x</a>'}, "must not contain scripts"),
    ],
)
def test_wording_that_could_not_be_sent_is_refused_naming_the_problem(
    trial: Trial, investigator: Any, parts: dict[str, str], error: str
) -> None:
    with pytest.raises(mt.TemplateRefused, match=error):
        _save(trial, investigator, **parts)
    assert not MessageTemplate.objects.exists()
    assert not AuditEvent.objects.filter(action="message_template.save").exists()


def test_the_title_in_a_subject_is_refused_as_the_scientific_title(trial: Trial) -> None:
    with pytest.raises(mt.TemplateRefused, match="names the scientific title"):
        _save(trial, subject=trial.title)


def test_languages_and_parts_must_fit_the_kind(trial: Trial) -> None:
    with pytest.raises(mt.TemplateRefused, match="written in en, es, not 'fr'"):
        _save(trial, language="fr")
    with pytest.raises(mt.TemplateRefused, match="written in en, not 'es'"):
        _save(trial, kind=ALERT_KIND, language="es")
    with pytest.raises(mt.TemplateRefused, match="may go by SMS: give the SMS text too"):
        _save(trial, sms=" ")
    with pytest.raises(mt.TemplateRefused, match="not sent by SMS"):
        _save(trial, kind=ALERT_KIND, sms="{{ url }}")
    staff = _save(trial, kind=ALERT_KIND, subject="[{{ trial_slug }}] Alert: {{ participant }}")
    assert staff.version == 1


# ------------------------------------------------------------------------------------------------
# The admin
# ------------------------------------------------------------------------------------------------

ADD = "admin:participants_messagetemplate_add"


@pytest.fixture
def ivan(client: Client, investigator: Any) -> Client:
    return login(client, investigator)


def _form(trial: Trial, **parts: str) -> dict[str, Any]:
    return {
        "trial": trial.pk,
        "kind": INVITATION_KIND,
        "language": "es",
        **_defaults(),
        "reason": "CEI 2026-14",
        **parts,
    }


def test_the_admin_adds_a_version_through_the_service_from_the_current_wording(
    ivan: Client, trial: Trial, investigator: Any
) -> None:
    page = ivan.get(reverse(ADD) + f"?trial={trial.pk}&kind={INVITATION_KIND}&language=es")
    assert page.status_code == 200
    assert page.context["adminform"].form.initial["text"] == mt.default_sources(INVITATION_KIND).text
    response = ivan.post(reverse(ADD), _form(trial, subject="{{ study_name }}: cuestionarios listos"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = MessageTemplate.objects.get()
    assert (row.language, row.version, row.created_by, row.reason) == ("es", 1, investigator, "CEI 2026-14")
    assert AuditEvent.objects.filter(action="message_template.save", object_id=str(row.pk)).exists()
    ivan.post(reverse(ADD), _form(trial, subject="{{ study_name }}: cuestionarios (2)"))
    assert list(MessageTemplate.objects.values_list("version", flat=True)) == [2, 1]
    # A version is kept as saved: its page is read-only and it cannot be deleted.
    change = ivan.get(reverse("admin:participants_messagetemplate_change", args=[row.pk]))
    assert change.status_code == 200 and "adminform" in change.context
    assert not change.context["has_change_permission"] and not change.context["has_delete_permission"]
    assert ivan.post(reverse("admin:participants_messagetemplate_delete", args=[row.pk])).status_code == 403


def test_the_admin_refuses_a_failing_template_when_it_is_saved(ivan: Client, trial: Trial) -> None:
    response = ivan.post(reverse(ADD), _form(trial, subject="{{ study_name }}: grupo de Waitlist control"))
    assert response.status_code == 200
    assert "names an arm" in str(response.context["adminform"].form.errors["subject"])
    response = ivan.post(reverse(ADD), _form(trial, html="<p>{% if url %}</p>"))
    assert "not a valid template" in str(response.context["adminform"].form.errors["html"])
    assert not MessageTemplate.objects.exists()


def test_the_admin_previews_what_is_sent_now_in_every_language(ivan: Client, trial: Trial) -> None:
    mt.message_template_save(trial=trial, kind=INVITATION_KIND, language="es", by=None, **_defaults())
    listing = ivan.get(reverse("admin:participants_messagetemplate_changelist"))
    url = reverse("admin:participants_messagetemplate_current", args=[trial.pk, INVITATION_KIND])
    assert url in listing.content.decode()
    page = ivan.get(url).content.decode()
    assert "Mood and Wellbeing Study: your week 4 questionnaires" in page
    assert "Estudio de Ánimo y Bienestar" in page and "the trial's version 1" in page
    assert "/q/SAMPLE-LINK-NOT-REAL/" in page and trial.title not in page
    html = ivan.get(reverse("admin:participants_messagetemplate_html", args=[trial.pk, INVITATION_KIND, "es"]))
    assert html.status_code == 200 and '<html lang="es">' in html.content.decode()
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    version = MessageTemplate.objects.get()
    preview = ivan.get(reverse("admin:participants_messagetemplate_preview", args=[version.pk]))
    assert preview.status_code == 200 and "Estudio de Ánimo y Bienestar" in preview.content.decode()


def test_outsiders_and_coordinators_neither_see_nor_add_templates(
    client: Client, trial: Trial, other_trial: Trial, coordinator: Any, outsider: Any
) -> None:
    row = mt.message_template_save(trial=trial, kind=INVITATION_KIND, language="en", by=None, **_defaults())
    for user in (coordinator, outsider):
        c = login(Client(), user)
        assert c.get(reverse("admin:participants_messagetemplate_change", args=[row.pk])).status_code in (302, 403, 404)
        assert (
            c.get(reverse("admin:participants_messagetemplate_current", args=[trial.pk, INVITATION_KIND])).status_code
            == 404
        )
        assert c.get(reverse("admin:participants_messagetemplate_preview", args=[row.pk])).status_code == 404
    oscar = login(Client(), outsider)
    listing = oscar.get(reverse("admin:participants_messagetemplate_changelist")).content.decode()
    other = reverse("admin:participants_messagetemplate_current", args=[other_trial.pk, INVITATION_KIND])
    assert other in listing and f"/current/{trial.pk}/" not in listing and trial.slug not in listing
    response = oscar.post(reverse(ADD), _form(trial))
    assert response.status_code == 200 and "trial" in response.context["adminform"].form.errors
    assert MessageTemplate.objects.count() == 1


def test_a_version_that_fails_at_send_time_leaves_no_link_and_is_retried(trial: Trial) -> None:
    # Saved past the check (as a database edit would be): the message is retried, its link taken back.
    MessageTemplate.objects.create(
        trial=trial, kind=INVITATION_KIND, language="en", version=1, **{**_defaults(), "text": "{% include 'x' %}"}
    )
    participant = helpers.enrolled(trial)
    outbox_deliver_due()
    message = OutboxMessage.objects.get(participant=participant, kind=INVITATION_KIND)
    assert message.status == "pending" and "TemplateDoesNotExist" in message.last_error
    assert not AccessLink.objects.filter(assessment__participant=participant).exists()
    assert not mail.outbox


def test_messages_name_the_study_teams_address_where_one_is_given(trial: Trial, settings: Any) -> None:
    assert "Write to the study team" not in mt.render_sample(INVITATION_KIND, trial=trial, language="en").text
    settings.STUDY_CONTACT_EMAIL = "team@example.org"
    parts = mt.render_sample(REMINDER_KIND, trial=trial, language="en")
    assert "Write to the study team at team@example.org." in parts.text
    assert 'href="mailto:team@example.org"' in parts.html
    trial.public_info["es"]["contact_email"] = "equipo@example.org"
    trial.save(update_fields=["public_info"])
    spanish = mt.render_sample(REMINDER_KIND, trial=trial, language="es").text
    assert "Escriba al equipo del estudio a equipo@example.org." in spanish
