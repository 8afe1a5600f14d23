"""Questionnaires in the participant's language, and never a placeholder: the official Spanish PHQ-9 for a
Spanish-speaking participant, the apology page (503) when a visit's questionnaire lacks wording, the
design check that keeps such a trial from opening or reopening, simulated trials, translations and
wording files per language, and templates that extend another."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from assessments.instruments import (
    BUILTIN_DIR,
    InstrumentDefinitionError,
    WordingNotInstalled,
    apply_wording,
    get_instrument,
    install_registry,
    load_definition,
    load_registry,
)
from assessments.models import Response, ScheduledAssessment
from assessments.services.links import link_create
from assessments.services.scheduling import check_visit_instruments
from assessments.services.submission import response_submit
from participants.models import Participant
from tests import helpers
from trial.errors import DomainError
from trial.models import Trial, TrialStatus
from trial.services import trial_set_status
from trial.templates import TemplateInvalid, read_template, trial_create_from_template

WORDING = helpers.ROOT / "tests" / "wording"


def baseline_url(participant: Participant, language: str = "en") -> str:
    Participant.objects.filter(pk=participant.pk).update(language=language)
    assessment = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    return urlsplit(link_create(assessment=assessment)).path


def html(response: Any) -> str:
    return response.content.decode()


# --------------------------------------------------------------------------------------------------
# The participant's pages
# --------------------------------------------------------------------------------------------------


def test_a_spanish_participant_reads_the_official_spanish_phq9(client: Client, trial: Trial):
    url = baseline_url(helpers.enrolled(trial), "es")
    response = client.get(f"{url}phq9/")
    page = html(response)
    assert response.status_code == 200
    assert '<html lang="es"' in page
    assert '<h1 lang="es">Cuestionario sobre la salud del paciente-9</h1>' in page
    assert "Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias" in page
    assert "Poco interés o placer en hacer cosas" in page
    assert "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera" in page
    assert '<label for="phq9_1-0" lang="es">Ningún día</label>' in page
    assert '<label for="phq9_10-3" lang="es">Extremadamente difícil</label>' in page
    assert "Little interest or pleasure" not in page
    assert "Not at all" not in page
    overview = html(client.get(url))
    assert "Cuestionario sobre la salud del paciente-9" in overview


def test_an_english_participant_of_the_same_trial_reads_english(client: Client, trial: Trial):
    page = html(client.get(f"{baseline_url(helpers.enrolled(trial))}phq9/"))
    assert '<html lang="en"' in page
    assert "Little interest or pleasure in doing things" in page
    assert "Poco interés" not in page


def test_a_spanish_answer_page_is_scored_like_the_english_one(client: Client, trial: Trial):
    participant = helpers.enrolled(trial)
    url = baseline_url(participant, "es")
    data = {f"phq9_{n}": "1" for n in range(1, 9)} | {"phq9_9": "0"}
    assert client.post(f"{url}phq9/", data).status_code == 302
    stored = Response.objects.get(assessment__participant=participant, instrument_code="phq9")
    assert stored.total == 8


def test_missing_wording_gives_an_apology_never_a_placeholder(
    client: Client, trial: Trial, caplog: pytest.LogCaptureFixture
):
    url = baseline_url(helpers.enrolled(trial))
    install_registry(load_registry())  # what ships: no GAD-Q-IV or WCS wording
    with caplog.at_level(logging.ERROR, logger="assessments.views"):
        for path in (url, f"{url}phq9/", f"{url}gadq4/", f"{url}wcs/"):
            response = client.get(path)
            page = html(response)
            assert response.status_code == 503, path
            assert "This questionnaire cannot be shown right now" in page
            assert "The study team has been told" in page
            assert "not installed" not in page and "gadq4_1" not in page and "[" not in page.split("<main")[-1]
    ours = [r.getMessage() for r in caplog.records if r.name == "assessments.views" and r.levelno == logging.ERROR]
    assert len(ours) == 4
    expected = "trial therabot, participant TB-0001, visit baseline: gadq4, wcs not installed in 'en'"
    assert all(expected in message for message in ours)
    token = url.strip("/").split("/")[-1]
    assert all(token not in record.getMessage() for record in caplog.records)


def test_a_questionnaire_without_spanish_wording_is_not_shown_to_a_spanish_participant(client: Client, trial: Trial):
    english, spanish = helpers.enrolled(trial), helpers.enrolled(trial)
    english_url, spanish_url = baseline_url(english), baseline_url(spanish, "es")
    install_registry(load_registry(wording_files=[WORDING / "en.json"]))  # licensed wording in English only
    assert client.get(f"{english_url}gadq4/").status_code == 200
    response = client.get(f"{spanish_url}phq9/")
    assert response.status_code == 503
    assert '<html lang="es"' in html(response)
    assert client.get(f"{spanish_url}gadq4/").status_code == 503


def test_answers_already_given_stay_and_a_completed_questionnaire_needs_no_wording(client: Client, trial: Trial):
    participant = helpers.enrolled(trial)
    url = baseline_url(participant)
    for code in ("gadq4", "wcs"):
        response_submit(
            assessment=ScheduledAssessment.objects.get(participant=participant, visit__code="baseline"),
            instrument_code=code,
            answers=helpers.lowest_answers(code),
            source="api",
        )
    install_registry(load_registry())
    assert client.get(f"{url}phq9/").status_code == 200  # what is left to answer has its wording


def test_a_simulated_trials_links_open_no_page(client: Client, trial: Trial):
    participant = helpers.enrolled(trial)
    url = baseline_url(participant)
    Trial.objects.filter(pk=trial.pk).update(simulated=True)
    response = client.get(f"{url}phq9/")
    assert response.status_code == 404
    assert "This link does not work" in html(response)


# --------------------------------------------------------------------------------------------------
# The design check
# --------------------------------------------------------------------------------------------------


@pytest.mark.builtin_wording
def test_recruitment_cannot_open_while_a_scheduled_instrument_lacks_wording(db: None):
    trial = trial_create_from_template(data=read_template("therabot"), by=None)
    with pytest.raises(DomainError) as refused:
        trial_set_status(trial=trial, status=TrialStatus.RECRUITING, by=None)
    assert refused.value.code == "design_incomplete"
    message = refused.value.message
    assert message.startswith("The trial cannot open:")
    assert (
        "GAD-Q-IV (gadq4), scheduled at visits 'baseline', 'week4', 'week8', has no wording installed in 'en'"
    ) in message
    assert "GAD-Q-IV (gadq4), scheduled at visits 'baseline', 'week4', 'week8', has no wording installed in 'es'" in (
        message
    )
    assert "WAI-SR (waisr), scheduled at visits 'week4', 'week8'" in message
    assert "PHQ-9" not in message and "GAD-7" not in message  # both ship in English and Spanish
    trial.refresh_from_db()
    assert trial.status == TrialStatus.DRAFT


@pytest.mark.builtin_wording
def test_the_check_names_only_the_languages_missing(db: None):
    trial = trial_create_from_template(data=read_template("therabot"), by=None)
    install_registry(load_registry(wording_files=[WORDING / "en.json"]))
    problems = check_visit_instruments(trial)
    assert problems and all("in 'es'" in problem for problem in problems)
    Trial.objects.filter(pk=trial.pk).update(languages=["en"])
    trial.refresh_from_db()
    assert check_visit_instruments(trial) == []


def test_reopening_recruitment_runs_the_checks_again(trial: Trial):
    trial = trial_set_status(trial=trial, status=TrialStatus.CLOSED, by=None)
    install_registry(load_registry())  # the licensed wording went missing while recruitment was closed
    with pytest.raises(DomainError, match=r"The trial cannot reopen: .*GAD-Q-IV \(gadq4\)"):
        trial_set_status(trial=trial, status=TrialStatus.RECRUITING, by=None)
    install_registry(load_registry(wording_files=sorted(WORDING.glob("*.json"))))
    assert trial_set_status(trial=trial, status=TrialStatus.RECRUITING, by=None).status == TrialStatus.RECRUITING


@pytest.mark.builtin_wording
def test_a_simulated_trial_skips_the_wording_check(db: None):
    data = read_template("therabot") | {"simulated": True}
    trial = trial_create_from_template(data=data, by=None, slug="therabot-sim")
    assert trial_set_status(trial=trial, status=TrialStatus.RECRUITING, by=None).status == TrialStatus.RECRUITING


@pytest.mark.builtin_wording
def test_an_unknown_instrument_is_still_named(db: None):
    trial = trial_create_from_template(data=read_template("therabot-demo"), by=None)
    trial.visits.get(code="baseline").instruments.filter(instrument_code="gad7").update(instrument_code="bdi2")
    assert check_visit_instruments(trial) == [
        "Visit 'baseline' names instrument 'bdi2', which is not installed "
        "(installed: edeqs, gad7, gadq4, phq8, phq9, scoff, waisr, wcs)."
    ]


# --------------------------------------------------------------------------------------------------
# Wording per language in definitions and wording files
# --------------------------------------------------------------------------------------------------


@pytest.mark.builtin_wording
def test_the_free_instruments_ship_in_english_and_spanish():
    for code in ("phq9", "phq8", "gad7"):
        instrument = get_instrument(code)
        assert instrument.wording_languages() == ("en", "es")
    gad7 = get_instrument("gad7")
    assert gad7.item_text("gad7_1", "es") == "Sentirse nervioso(a), ansioso(a) o con los nervios de punta"
    assert [gad7.option_label("gad7_1", v, "es") for v in range(4)] == [
        "Nunca", "Varios días", "Más de la mitad de los días", "Casi todos los días",
    ]  # fmt: skip
    assert get_instrument("phq8").item_text("phq8_1", "es") == get_instrument("phq9").item_text("phq9_1", "es")
    with pytest.raises(WordingNotInstalled, match="'fr'"):
        gad7.item_text("gad7_1", "fr")
    with pytest.raises(WordingNotInstalled, match="'fr'"):
        gad7.instructions_in("fr")
    assert gad7.staff_item_text("gad7_1", "fr") == "[Item wording not installed: gad7_1 (fr) — see docs/instruments.md]"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def write(doc: Any, name: str) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path

    return write


def phq9_doc() -> dict[str, Any]:
    return json.loads((BUILTIN_DIR / "phq9.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["translations"]["es"]["items"].update(phq9_11="x"), r"translations\.es\.items\.phq9_11: unknown"),
        (lambda d: d["translations"]["es"]["items"].update(phq9_1=""), r"translations\.es\.items\.phq9_1: must be a"),
        (lambda d: d["translations"]["es"].pop("items"), r"translations\.es\.items: is required"),
        (lambda d: d["translations"]["es"].update(title="x"), r"translations\.es\.title: unknown field"),
        (
            lambda d: d["translations"]["es"]["options"]["phq9_10"].update({"7": "x"}),
            r"translations\.es\.options\.phq9_10\.7: no option with value 7",
        ),
        (lambda d: d["translations"].update(Spanish={"items": {}}), r"translations\.Spanish: 'Spanish' is not a lang"),
        (lambda d: d["translations"].update(en={"items": {}}), r"translations\.en: is the definition's own language"),
        (lambda d: d.update(translations=["es"]), r"translations: must be an object"),
    ],
)
def test_bad_translations_name_the_file_and_field(write: Callable[..., Path], change: Any, message: str):
    doc = phq9_doc()
    change(doc)
    with pytest.raises(InstrumentDefinitionError, match=rf"^phq9\.json: {message}"):
        load_definition(write(doc, "phq9.json"))


def test_a_restricted_instrument_carries_no_translation_in_the_repository(write: Callable[..., Path]):
    doc = json.loads((BUILTIN_DIR / "gadq4.json").read_text(encoding="utf-8"))
    doc["translations"] = {"es": {"items": {"gadq4_1": "x"}}}
    with pytest.raises(InstrumentDefinitionError, match=r"gadq4\.json: translations: a restricted instrument"):
        load_definition(write(doc, "gadq4.json"))


@pytest.mark.builtin_wording
def test_a_wording_file_in_spanish_installs_a_translation(write: Callable[..., Path]):
    wcs = get_instrument("wcs")
    texts = {key: f"Pregunta de prueba {key}" for key in wcs.item_keys}
    registry = apply_wording(load_registry(), write({"language": "es", "wcs": texts}, "wcs-es.json"))
    installed = registry.get("wcs")
    assert installed.wording_languages() == ("es",)  # no English wording installed
    assert installed.item_text("wcs_1", "es") == "Pregunta de prueba wcs_1"
    assert installed.option_label("wcs_1", 2, "es") == "2"  # a bare number reads the same in every language
    with pytest.raises(WordingNotInstalled):
        installed.item_text("wcs_1")
    # A second file for the same language adds to the first, and the given registry is unchanged.
    again = apply_wording(registry, write({"language": "es", "wcs": {"wcs_1": "Otra"}}, "more.json")).get("wcs")
    assert again.item_text("wcs_1", "es") == "Otra" and again.item_text("wcs_2", "es") == "Pregunta de prueba wcs_2"
    assert installed.item_text("wcs_1", "es") == "Pregunta de prueba wcs_1"


@pytest.mark.builtin_wording
def test_yes_no_labels_need_their_translation(write: Callable[..., Path]):
    scoff = get_instrument("scoff")
    texts: dict[str, Any] = {key: f"Pregunta {key}" for key in scoff.item_keys}
    registry = apply_wording(load_registry(), write({"language": "es", "scoff": texts}, "s.json"))
    assert not registry.get("scoff").has_wording("es")  # "Yes"/"No" are English
    texts["options"] = {"*": {"1": "Sí", "0": "No"}}
    registry = apply_wording(load_registry(), write({"language": "es", "scoff": texts}, "s.json"))
    assert registry.get("scoff").has_wording("es")
    assert registry.get("scoff").option_label("scoff_1", 1, "es") == "Sí"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"language": "Español", "wcs": {}}, r"w\.json: language: 'Español' is not a language code"),
        ({"language": 7}, r"w\.json: language: must be a non-empty string"),
        ({"language": "es", "wcs": {"wcs_9": "x"}}, r"w\.json: wcs\.wcs_9: unknown field"),
    ],
)
def test_bad_wording_files_name_the_field(write: Callable[..., Path], doc: Any, message: str):
    with pytest.raises(InstrumentDefinitionError, match=message):
        apply_wording(load_registry(), write(doc, "w.json"))


# --------------------------------------------------------------------------------------------------
# Templates that extend another
# --------------------------------------------------------------------------------------------------


def test_a_template_extends_another_key_by_key(tmp_path: Path):
    (tmp_path / "base.json").write_text(json.dumps({"slug": "base", "title": "Base", "arms": [1, 2]}))
    (tmp_path / "child.json").write_text(json.dumps({"extends": "base.json", "title": "Child", "arms": [3]}))
    assert read_template(str(tmp_path / "child.json")) == {"slug": "base", "title": "Child", "arms": [3]}


def test_the_demo_template_extends_the_bundled_reference_template():
    demo, reference = read_template("therabot-demo"), read_template("therabot")
    assert "extends" not in demo
    assert demo["slug"] == reference["slug"] == "therabot"
    assert demo["arms"] == reference["arms"] and demo["languages"] == reference["languages"]
    assert demo["visits"] != reference["visits"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.json": {"extends": "a.json"}}, r"a\.json: extends: the templates extend each other in a circle \(a -> a"),
        (
            {"a.json": {"extends": "b.json"}, "b.json": {"extends": "a.json"}},
            r"extend each other in a circle \(a -> b -> a\)",
        ),
        ({"a.json": {"extends": "nowhere"}}, r"a\.json: extends 'nowhere': No template 'nowhere'"),
        ({"a.json": {"extends": 3}}, r"a\.json: extends: expected the name or path of a template, got 3"),
        ({"a.json": {"extends": "b.json"}, "b.json": [1]}, r"extends 'b\.json': .*b\.json: the template must be"),
    ],
)
def test_bad_extends_are_named(tmp_path: Path, files: dict[str, Any], message: str):
    for name, doc in files.items():
        (tmp_path / name).write_text(json.dumps(doc))
    with pytest.raises(TemplateInvalid, match=message):
        read_template(str(tmp_path / "a.json"))
