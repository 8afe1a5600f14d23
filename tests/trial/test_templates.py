from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from trial.errors import DomainError
from trial.models import Trial
from trial.templates import TemplateInvalid, read_template, trial_create_from_template

pytestmark = pytest.mark.django_db


def test_the_reference_template_loads_the_therabot_design():
    call_command("load_trial_template", "therabot", "--open")
    trial = Trial.objects.get(slug="therabot")
    assert trial.status == "recruiting"
    assert trial.registry_id == "NCT06013137"
    assert [(a.code, a.ratio, a.is_control) for a in trial.arms.all()] == [("chatbot", 1, False), ("waitlist", 1, True)]
    factor = trial.factors.get()
    assert (factor.code, [lv.code for lv in factor.levels.all()]) == ("condition", ["MDD", "GAD", "CHR-FED"])
    assert [(v.code, v.week, v.offset_days) for v in trial.visits.all()] == [
        ("baseline", 0, 0),
        ("week4", 4, 28),
        ("week8", 8, 56),
    ]
    assert trial.eligibility_rules.filter(code="adult", field="age", operator=">=", value=18).exists()
    assert trial.consent_documents.get().version == "1.0"


def test_it_refuses_to_load_over_an_existing_trial_unless_replacing_a_draft():
    call_command("load_trial_template", "therabot")
    with pytest.raises(CommandError, match="exists; pass replace"):
        call_command("load_trial_template", "therabot")
    call_command("load_trial_template", "therabot", "--replace", "--open")
    with pytest.raises(CommandError, match="is recruiting; it cannot be replaced"):
        call_command("load_trial_template", "therabot", "--replace")
    assert Trial.objects.count() == 1


def test_a_bad_template_names_the_problem_and_writes_nothing(tmp_path):
    data = read_template("therabot")
    data["arms"][1]["ratio"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"arms\[1\]: ratio"):
        call_command("load_trial_template", str(path))
    assert not Trial.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["factors"][0]["levels"].append({"code": "bad code!", "label": "x"}),
            r"factors\[0\]\.levels\[3\]: code",
        ),
        (lambda d: d["visits"][0].update(colour="red"), r"visits\[0\]: unknown key\(s\) colour"),
        (lambda d: d.update(arms={"code": "x"}), "arms: expected a list"),
        (lambda d: d.update(slug="not a slug"), "trial: slug"),
    ],
)
def test_template_errors_point_at_the_entry(mutate, message):
    data = read_template("therabot")
    mutate(data)
    with pytest.raises(TemplateInvalid, match=message):
        trial_create_from_template(data=data, by=None)
    assert not Trial.objects.exists()


def test_an_unknown_or_malformed_template_file_is_reported(tmp_path):
    with pytest.raises(DomainError, match=r"No template 'nope'.*therabot"):
        read_template("nope")
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(DomainError, match=r"not valid JSON .line 1"):
        read_template(str(broken))


def test_demo_accounts_get_a_role_each_and_working_credentials(capsys):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    from trial import access

    call_command("load_trial_template", "therabot", "--open")
    call_command("demo_accounts", "--trial", "therabot")
    out = capsys.readouterr().out
    trial = Trial.objects.get(slug="therabot")
    lines = {line.split()[0]: line.split() for line in out.splitlines() if "password" in line and "token" in line}
    assert set(lines) == {"coordinator", "investigator", "statistician", "unblinded", "clinician", "admin"}
    coordinator_password = lines["coordinator"][lines["coordinator"].index("password") + 1]
    login = RequestFactory().post("/admin/login/")  # the login lockout needs the request to know the client
    user = authenticate(login, username="coordinator", password=coordinator_password)
    assert user is not None
    assert access.roles_for(user, trial) == {"coordinator"}
    with pytest.raises(CommandError, match="No trial 'nope'"):
        call_command("demo_accounts", "--trial", "nope")
