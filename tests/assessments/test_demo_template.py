"""The demo trial (``make demo``: fixtures/trials/therabot-demo.json) runs with only the wording that ships:
it loads, passes the design checks, and every questionnaire a participant can be sent has its wording in
every language of the trial, so its participants see complete questionnaires in English and Spanish."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from assessments.instruments import get_instrument
from assessments.models import ScheduledAssessment
from assessments.services.links import link_create
from participants.models import Participant
from tests import helpers
from trial.models import Trial, TrialStatus, VisitInstrument
from trial.services import trial_set_status
from trial.templates import read_template, trial_create_from_template

pytestmark = pytest.mark.builtin_wording


@pytest.fixture
def demo(db: None) -> Trial:
    return trial_create_from_template(data=read_template("therabot-demo"), by=None)


def test_the_demo_passes_the_design_checks_with_only_shipped_wording(demo: Trial):
    assert demo.slug == "therabot"  # the Makefile's other lines name it
    assert demo.languages == ["en", "es"]
    assert demo.design_problems() == []
    assert trial_set_status(trial=demo, status=TrialStatus.RECRUITING, by=None).status == TrialStatus.RECRUITING


def test_every_participant_facing_instrument_has_wording_in_every_trial_language(demo: Trial):
    codes = set(VisitInstrument.objects.filter(visit__trial=demo).values_list("instrument_code", flat=True))
    assert codes == {"phq9", "gad7"}
    for code in codes:
        instrument = get_instrument(code)
        assert instrument.licence.wording == "free"
        for language in demo.languages:
            assert instrument.has_wording(language), (code, language)
            for item in instrument.items:
                assert instrument.item_text(item.key, language)
                for option in item.options:
                    assert instrument.option_label(item.key, option.value, language)


def test_the_demo_measures_and_screens_only_with_what_it_schedules(demo: Trial):
    scheduled = set(VisitInstrument.objects.filter(visit__trial=demo).values_list("instrument_code", flat=True))
    assert set(demo.outcomes.values_list("instrument_code", flat=True)) <= scheduled
    assert set(demo.outcomes.filter(primary=True).values_list("code", flat=True)) == {"mdd_phq9", "gad_gad7"}
    assert not demo.screening_fields.filter(code="gadq4_score").exists()
    rule = demo.eligibility_rules.get(code="gad_severity")
    assert (rule.field, rule.operator, rule.value) == ("gad7_total", ">=", 10)
    reference = read_template("therabot")
    assert "eating" in reference["consent_document"]["text"]
    assert "eating" not in demo.consent_documents.get().text  # it asks no eating questionnaire


def test_the_demo_loads_as_make_demo_loads_it(db: None, capsys: pytest.CaptureFixture[str]):
    call_command("load_trial_template", "therabot-demo", "--open", "--replace")
    assert Trial.objects.get(slug="therabot").status == TrialStatus.RECRUITING


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_demo_participant_sees_only_complete_questionnaires(demo: Trial, client: Client, language: str):
    demo = trial_set_status(trial=demo, status=TrialStatus.RECRUITING, by=None)
    participant = helpers.enrolled(demo)
    Participant.objects.filter(pk=participant.pk).update(language=language)
    assessment = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    url = urlsplit(link_create(assessment=assessment)).path
    for path in (url, f"{url}phq9/", f"{url}gad7/"):
        response = client.get(path)
        page = response.content.decode()
        assert response.status_code == 200, path
        assert f'<html lang="{language}"' in page
        assert "not installed" not in page and "cannot be shown" not in page


def test_make_demos_participant_link_opens_complete_questionnaires(
    db: None, client: Client, capsys: pytest.CaptureFixture[str]
):
    call_command("load_trial_template", "therabot-demo", "--open", "--replace")
    capsys.readouterr()
    call_command("demo_participant", "--trial", "therabot")
    link = next(line.strip() for line in capsys.readouterr().out.splitlines() if "/q/" in line)
    url = urlsplit(link).path
    overview = client.get(url)
    assert overview.status_code == 200
    for code in ("phq9", "gad7"):
        response = client.get(f"{url}{code}/")
        assert response.status_code == 200
        assert "not installed" not in response.content.decode()
