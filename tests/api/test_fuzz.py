"""The API fuzz stage: schemathesis generates requests from the OpenAPI schema (/api/schema/) for every
operation and sends them to a real server on 127.0.0.1, as every role, an outsider and an anonymous caller.
No answer may be a server error (5xx), and every answer must be one the schema documents: its status code,
content type and body.

PostgreSQL only (it enforces column lengths and time zone ranges that SQLite lets pass); runs in CI's
PostgreSQL pass. Reproducible: Hypothesis is derandomized (a fixed seed per operation), with no example
database, and the data it runs against is made the same way each time.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from analysis.models import Job
from analysis.services import job_request
from assessments.models import Response, ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from participants.models import SafetyAlert
from tests import helpers
from trial import clock
from trial.models import Role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HOST = "127.0.0.1"  # the only address fuzzed
EXAMPLES = {"member": 20, "stranger": 5}  # per operation; the whole stage stays within a few minutes

IDENTITIES = [
    Role.COORDINATOR,
    Role.INVESTIGATOR,
    Role.BLINDED_STATISTICIAN,
    Role.UNBLINDED_STATISTICIAN,
    Role.SAFETY_CLINICIAN,
    Role.ADMINISTRATOR,
    "outsider",
    "anonymous",
]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """The WSGI application served from a thread on 127.0.0.1 (a free port); each request closes its
    database connections."""
    httpd = ThreadedWSGIServer((HOST, 0), _QuietHandler, allow_reuse_address=False)
    httpd.set_app(WSGIHandler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def world(trial: Any, other_trial: Any) -> dict[str, list[Any]]:
    """Participants in every state, visits and responses (the alliance scale too), an urgent safety alert,
    a finished export job: the ids the fuzzer addresses, with made-up ones beside them."""
    people = [helpers.eligible(trial), helpers.consented(trial), helpers.enrolled(trial)]
    people += [helpers.randomized(trial) for _ in range(4)]
    for person in people[3:]:
        visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
        with clock.use(clock.SimulatedClock(visit.opens_at + timedelta(hours=1))):
            sweep(deliver=False)
            for code in visit.instruments:
                answers = helpers.lowest_answers(code)
                if code == "phq9" and person == people[3]:
                    answers = {**answers, "phq9_9": 2}  # an urgent alert to work on
                response_submit(assessment=visit, instrument_code=code, answers=answers, source="api")
    stranger = helpers.randomized(other_trial)
    investigator = get_user_model().objects.create_user(username="fuzz-job", email="job@example.org")
    helpers.grant(trial, investigator, Role.INVESTIGATOR)
    roles = frozenset({Role.INVESTIGATOR})
    job_request(trial=trial, roles=roles, by=investigator, kind="export", fmt="csv", blinded=True, dataset="long")
    return {
        "slug": [trial.slug] * 6 + [other_trial.slug, "no-such-trial"],
        "id": [p.pk for p in people] + [stranger.pk, 2**31 - 1],
        # A visit is addressed under its participant: the two are drawn together (see _addresses).
        "visit": [
            (a.participant_id, str(a.public_id)) for a in ScheduledAssessment.objects.filter(participant__in=people)
        ]
        + [(people[-1].pk, str(uuid.UUID(int=7))), (people[-1].pk, "1")],
        "response_id": [str(r.public_id) for r in Response.objects.all()] + [str(uuid.UUID(int=8)), "1"],
        "alert_id": [a.pk for a in SafetyAlert.objects.all()] + [2**31 - 1],
        "job_id": [str(j.pk) for j in Job.objects.all()] + [str(uuid.UUID(int=9))],
    }


def _caller(identity: str, trial: Any, request: pytest.FixtureRequest) -> Any:
    if identity == "anonymous":
        return None
    if identity == "outsider":
        return request.getfixturevalue("outsider")
    user = get_user_model().objects.create_user(username=f"fuzz-{identity}", email=f"{identity}@example.org")
    helpers.grant(trial, user, identity)
    return user


def _addresses(path: str, ids: dict[str, list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Path parameters drawn from the ids that exist (and a few that do not)."""
    names = [name for name in ids if "{" + name + "}" in path]
    drawn = st.fixed_dictionaries({name: st.sampled_from(ids[name]) for name in names})
    if "{assessment_id}" not in path:
        return drawn
    visits = st.sampled_from(ids["visit"]).map(lambda pair: {"id": pair[0], "assessment_id": pair[1]})
    return st.tuples(drawn, visits).map(lambda both: {**both[0], **both[1]})


def _cases(operation: Any) -> st.SearchStrategy[Any]:
    """Valid requests, and invalid ones (wrong types, missing or extra fields, out-of-range values)."""
    valid = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    try:
        return st.one_of(valid, operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    except Exception:  # an operation with nothing to get wrong
        return valid


def _fuzz(operation: Any, base_url: str, headers: dict[str, str], ids: dict[str, list[Any]], examples: int) -> None:
    addresses = _addresses(operation.path, ids)

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation), address=addresses)
    def run(case: Any, address: dict[str, Any]) -> None:
        case.path_parameters = {**(case.path_parameters or {}), **address}
        response = case.call(base_url=base_url, headers=headers, timeout=60, allow_redirects=False)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


@pytest.mark.parametrize("identity", IDENTITIES)
def test_no_server_error_and_every_answer_as_documented(identity, trial, world, server, request, settings):
    assert server.startswith(f"http://{HOST}:")
    # The fuzz sends hundreds of requests a minute as one caller: the throttles (tested on their own in
    # test_throttling.py) would answer most of them 429 and leave the operations untried.
    settings.API_THROTTLE_RATES = dict.fromkeys(settings.API_THROTTLE_RATES, "100000/minute")
    caller = _caller(identity, trial, request)
    headers = helpers.api_auth_headers(caller)
    document = requests.get(f"{server}/api/schema/?format=json", headers=headers, timeout=60)
    if document.status_code != 200:  # the schema is for staff only: read it as a staff member
        member = get_user_model().objects.create_user(username="fuzz-schema", email="schema@example.org", is_staff=True)
        helpers.grant(trial, member, Role.INVESTIGATOR)
        document = requests.get(
            f"{server}/api/schema/?format=json", headers=helpers.api_auth_headers(member), timeout=60
        )
    schema = schemathesis.openapi.from_dict(document.json())
    examples = EXAMPLES["member" if identity not in ("outsider", "anonymous") else "stranger"]
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(operation, server, headers, world, examples)
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
