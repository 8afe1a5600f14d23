"""Finding 1: a reader who must not know the arms (the blinded statistician; in a masked trial, staff) gets
nothing from the API that tells the arms apart: no ids with gaps where one arm's questionnaire (the alliance
scale, WAI-SR, chatbot arm only) sits, no counts, orderings or totals that differ by arm."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from assessments.models import Response, ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from tests import helpers
from trial import clock
from trial.models import Role

pytestmark = pytest.mark.django_db

BASE = "/api/v1/trials/masked"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT")


@pytest.fixture
def followed_up():
    """A masked trial; six participants (both arms) through baseline, week 4 and week 8, all answered."""
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    people = [helpers.randomized(trial) for _ in range(6)]  # a whole block at most: both arms
    for code in ("week4", "week8"):
        for person in people:
            visit = ScheduledAssessment.objects.get(participant=person, visit__code=code)
            with clock.use(clock.SimulatedClock(visit.opens_at + timedelta(hours=1))):
                sweep(deliver=False)
                for instrument in visit.instruments:
                    answers = helpers.lowest_answers(instrument)
                    response_submit(assessment=visit, instrument_code=instrument, answers=answers, source="api")
    arms = {person.allocation.arm.code for person in people}
    assert arms == {"chatbot", "waitlist"}
    assert Response.objects.filter(instrument_code="waisr").count() == 2 * sum(
        person.allocation.arm.code == "chatbot" for person in people
    )
    readers = []
    for username, role in (("bea", Role.BLINDED_STATISTICIAN), ("mick", Role.COORDINATOR), ("ines", Role.INVESTIGATOR)):
        user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org")
        helpers.grant(trial, user, role)
        readers.append(user)
    return trial, people, readers


def _shape(value: Any) -> Any:
    """The body with what may differ between any two participants (ids, times, names) replaced by types."""
    if isinstance(value, dict):
        if "masked" in value:  # the allocation: the blinded statistician sees letters, by design
            value = {
                **value,
                "arm": "<letter>" if value["arm"] else None,
                "arm_name": "<letter>" if value["arm"] else None,
            }
        return {key: _shape(item) for key, item in value.items() if key not in ("study_id",)}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    if isinstance(value, str) and TIME.match(value):
        return "<time>"
    return value


def _ids(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "id"] + [i for v in value.values() for i in _ids(v)]
    if isinstance(value, list):
        return [i for item in value for i in _ids(item)]
    return []


def test_nothing_a_blinded_reader_gets_tells_the_arms_apart(api, followed_up):
    _trial, people, readers = followed_up
    for reader in readers:
        client = api(reader)
        listing = client.get(f"{BASE}/participants/?page_size=2")
        assert listing.status_code == 200 and listing.json()["count"] == len(people)
        by_arm: dict[str, set[str]] = {}
        for person in people:
            bodies = {}
            for path in ("", "assessments/", "engagement/", "contact/"):
                answer = client.get(f"{BASE}/participants/{person.pk}/{path}")
                bodies[path] = (answer.status_code, answer.json())
            visits = bodies["assessments/"][1]
            assert [visit["visit"] for visit in visits] == ["baseline", "week4", "week8"]
            assert all(visit["status"] == "completed" for visit in visits)
            assert all(visit["reminders_sent"] is None for visit in visits[1:])
            assert not any(r["instrument"] == "waisr" for visit in visits for r in visit["responses"])
            for identifier in _ids(visits):  # random: no order, no gap where a hidden row sits
                assert uuid.UUID(str(identifier)).version == 4
            shape = repr(
                {
                    path: (status, _shape({k: v for k, v in body.items() if k != "id"} if path == "" else body))
                    for path, (status, body) in bodies.items()
                }
            )
            shape = re.sub(r"'id': '[0-9a-f-]{36}'", "'id': <uuid>", shape)
            by_arm.setdefault(person.allocation.arm.code, set()).add(shape)
        # Every participant of either arm looks exactly alike to this reader.
        assert len(by_arm["chatbot"] | by_arm["waitlist"]) == 1, reader.username
        # The blinded export: as many rows for every participant, whichever the arm.
        export = client.get(f"{BASE}/exports/long.csv")
        assert export.status_code == (403 if reader.username == "mick" else 200)  # coordinators do not export
        if export.status_code == 200:
            rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
            assert {row["instrument"] for row in rows}.isdisjoint({"waisr"})
            per_person = Counter(row["participant_id"] for row in rows)
            assert len(per_person) == len(people) and len(set(per_person.values())) == 1
        # Lists and totals whose size could follow one arm's rows.
        for path in ("audit/", "safety-alerts/", "jobs/", "consent-documents/"):
            answer = client.get(f"{BASE}/{path}")
            assert answer.status_code in (200, 403), (path, answer.content)
            if answer.status_code == 200 and path == "audit/":
                text = repr(answer.json())
                assert "waisr" not in text and "alliance" not in text.lower()


def test_a_hidden_response_and_a_made_up_id_answer_alike(api, followed_up):
    _trial, _people, readers = followed_up
    hidden = Response.objects.filter(instrument_code="waisr").first()
    shared = Response.objects.filter(instrument_code="phq9").first()
    for reader in readers:
        replies = [
            api(reader).post(f"{BASE}/responses/{key}/corrections/", {"answers": {}, "reason": "x"}, format="json")
            for key in (hidden.public_id, uuid.uuid4(), hidden.pk)
        ]
        assert len({(r.status_code, r.content) for r in replies}) == 1, reader.username
        assert replies[0].status_code in (403, 404)
    # A correction is audited under the response's public id, as the API names it, not its sequential key.
    corrected = api(readers[2]).post(
        f"{BASE}/responses/{shared.public_id}/corrections/",
        {"answers": {**helpers.lowest_answers("phq9"), "phq9_1": 1}, "reason": "Misread"},
        format="json",
    )
    assert corrected.status_code == 201
    trail = api(readers[2]).get(f"{BASE}/audit/?action=response.correct").json()["results"]
    assert [event["object_id"] for event in trail] == [corrected.json()["id"]]
    # Nor is the shared questionnaire reachable by its sequential key any more: one identifier for all.
    coordinator = readers[1]
    by_key = api(coordinator).post(f"{BASE}/responses/{shared.pk}/corrections/", {}, format="json")
    assert by_key.status_code == 404
