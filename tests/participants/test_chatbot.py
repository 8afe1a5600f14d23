"""The chatbot service posts engagement and crisis flags with its trial's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from participants.models import ChatbotApiKey, SafetyAlert
from participants.services.chatbot import chatbot_key_create
from participants.services.unblinding import participant_unblind
from tests import helpers
from trial.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(trial):
    _, key = chatbot_key_create(trial=trial, name="Therabot service", by=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_the_key_is_stored_only_hashed(trial):
    record, key = chatbot_key_create(trial=trial, name="svc", by=None)
    assert key.startswith("tpk_") and key not in str(ChatbotApiKey.objects.values().get(pk=record.pk))


def test_engagement_sessions_are_upserted_and_summarised(bot, api, coordinator, trial):
    participant = helpers.randomized(trial)
    start = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 18:30 in New York
    url = "/api/v1/chatbot/therabot/sessions/"
    body = {
        "participant": participant.study_id,
        "session_id": "s1",
        "started_at": start.isoformat(),
        "participant_messages": 3,
    }
    assert bot.post(url, body, format="json").status_code == 200
    ended = {
        **body,
        "ended_at": (start + timedelta(minutes=30)).isoformat(),
        "participant_messages": 12,
        "bot_messages": 11,
    }
    assert bot.post(url, ended, format="json").status_code == 200
    second = {**ended, "session_id": "s2", "started_at": (start + timedelta(hours=2)).isoformat(),
              "ended_at": (start + timedelta(hours=3)).isoformat()}  # fmt: skip
    bot.post(url, second, format="json")
    summary = api(coordinator).get(f"/api/v1/trials/therabot/participants/{participant.pk}/engagement/").json()
    assert summary["sessions"] == 2 and summary["hours"] == 1.5
    assert (summary["participant_messages"], summary["bot_messages"]) == (24, 22)
    # The second session starts on 3 March in UTC but at 20:30 on 2 March in New York: one local day.
    assert summary["active_days"] == 1
    next_day = {**ended, "session_id": "s3", "started_at": (start + timedelta(days=1)).isoformat(), "ended_at": None}
    bot.post(url, next_day, format="json")
    assert (
        api(coordinator).get(f"/api/v1/trials/therabot/participants/{participant.pk}/engagement/").json()["active_days"]
        == 2
    )


def test_a_crisis_flag_raises_an_urgent_alert_once(bot, clinician, trial):
    participant = helpers.randomized(trial)
    body = {
        "participant": participant.study_id,
        "event_id": "evt-77",
        "detected_at": "2026-03-02T23:35:00Z",
        "summary": "Said they want to die",
    }
    first = bot.post("/api/v1/chatbot/therabot/crisis-flags/", body, format="json")
    again = bot.post("/api/v1/chatbot/therabot/crisis-flags/", body, format="json")
    assert (first.status_code, first.json()["duplicate"]) == (201, False)
    assert (again.status_code, again.json()) == (200, {"alert": None, "duplicate": True})
    alert = SafetyAlert.objects.get()
    assert (alert.source, alert.flag, alert.urgent) == ("chatbot", "crisis_language", True)


def test_a_key_works_only_for_its_own_trial_and_bad_keys_are_refused(bot, trial, other_trial):
    participant = helpers.randomized(trial)
    body = {"participant": participant.study_id, "event_id": "e", "detected_at": "2026-03-02T23:35:00Z"}
    assert bot.post("/api/v1/chatbot/other-trial/crisis-flags/", body, format="json").status_code == 404
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Api-Key tpk_nope")
    assert stranger.post("/api/v1/chatbot/therabot/crisis-flags/", body, format="json").status_code == 401
    assert APIClient().post("/api/v1/chatbot/therabot/crisis-flags/", body, format="json").status_code == 401


def test_bad_chatbot_input_names_the_field(bot, trial):
    participant = helpers.randomized(trial)
    url = "/api/v1/chatbot/therabot/sessions/"
    unknown = bot.post(
        url, {"participant": "TB-9999", "session_id": "s", "started_at": "2026-03-02T10:00:00Z"}, format="json"
    )
    assert unknown.status_code == 400 and "participant" in unknown.json()["errors"]
    backwards = bot.post(
        url,
        {
            "participant": participant.study_id,
            "session_id": "s",
            "started_at": "2026-03-02T10:00:00Z",
            "ended_at": "2026-03-02T09:00:00Z",
        },
        format="json",
    )
    assert backwards.status_code == 400 and "ended_at" in backwards.json()["errors"]
    negative = bot.post(
        url,
        {
            "participant": participant.study_id,
            "session_id": "s",
            "started_at": "2026-03-02T10:00:00Z",
            "bot_messages": -1,
        },
        format="json",
    )
    assert negative.status_code == 400 and "bot_messages" in negative.json()


def test_the_command_issues_and_revokes_keys(trial, capsys):
    from django.core.management import call_command

    call_command("chatbot_key", "--trial", "therabot", "--name", "Therabot")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    participant = helpers.randomized(trial)
    body = {"participant": participant.study_id, "event_id": "e1", "detected_at": "2026-03-02T23:35:00Z"}
    assert client.post("/api/v1/chatbot/therabot/crisis-flags/", body, format="json").status_code == 201
    call_command("chatbot_key", "--trial", "therabot", "--revoke", key[:8])
    assert client.post("/api/v1/chatbot/therabot/crisis-flags/", body, format="json").status_code == 401


def test_engagement_is_shown_only_to_those_who_may_see_the_participants_arm(
    api, blinded_statistician, unblinded_statistician, trial
):
    # Only the chatbot arm has engagement, so the summary tells the arm: blinded readers get a 403.
    participant = helpers.randomized(trial)
    url = f"/api/v1/trials/therabot/participants/{participant.pk}/engagement/"
    refused = api(blinded_statistician).get(url)
    assert refused.status_code == 403 and "blinded" in refused.json()["detail"]
    assert api(unblinded_statistician).get(url).status_code == 200


def test_in_a_masked_trial_engagement_waits_for_the_participants_emergency_unblinding(api, db):
    masked = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    clinician = get_user_model().objects.create_user(username="mona", email="mona@example.org")
    helpers.grant(masked, clinician, Role.SAFETY_CLINICIAN)
    participant = helpers.randomized(masked)
    url = f"/api/v1/trials/masked/participants/{participant.pk}/engagement/"
    assert api(clinician).get(url).status_code == 403
    participant_unblind(participant=participant, reason="Clinical emergency", by=clinician)
    assert api(clinician).get(url).json()["sessions"] == 0


def test_a_crisis_flag_refused_for_its_body_still_raises_its_alert_once(bot, clinician, trial):
    participant = helpers.randomized(trial)
    url = "/api/v1/chatbot/therabot/crisis-flags/"
    body = {"participant": participant.study_id, "event_id": "evt-9", "detected_at": "yesterday", "severity": "max"}
    refused = bot.post(url, body, format="json")
    assert refused.status_code == 400 and set(refused.json()) == {"detected_at", "severity"}
    alert = SafetyAlert.objects.get()
    assert (alert.source, alert.flag, alert.urgent, alert.details["recorded"]) == (
        "chatbot",
        "crisis_language",
        True,
        False,
    )
    assert "detected_at" in alert.details["why"] and alert.details["detected_at"] == "yesterday"
    fixed = bot.post(url, {**body, "detected_at": "2026-03-02T23:35:00Z", "severity": "high"}, format="json")
    assert (fixed.status_code, fixed.json()["duplicate"]) == (200, True)  # the same event: one alert
    no_id = {"participant": participant.study_id, "detected_at": "2026-03-02T23:35:00Z", "summary": "x" * 2000}
    assert bot.post(url, no_id, format="json").status_code == 400
    assert bot.post(url, no_id, format="json").status_code == 400  # sent again: the same alert
    assert SafetyAlert.objects.count() == 2
    for nobody in ({**body, "participant": "TB-9999"}, {"event_id": "e"}, ["x"], {**body, "participant": ["x"]}):
        assert bot.post(url, nobody, format="json").status_code == 400
    assert SafetyAlert.objects.count() == 2
