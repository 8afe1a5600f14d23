"""Carrying out a workspace form once (workspace.submissions): the key is written with the act, a replay
goes where the first went, a refusal leaves the key unused, and old keys are forgotten."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings

from trial import clock
from trial.errors import DomainError
from workspace.models import FormSubmission
from workspace.submissions import KEEP, StaleForm, carry_out_once, submissions_forget
from workspace.tasks import forget_form_submissions

pytestmark = pytest.mark.django_db


def test_a_key_is_carried_out_once_and_a_replay_goes_where_the_first_went(coordinator: Any) -> None:
    done: list[int] = []

    def act() -> str:
        done.append(1)
        return f"/result/{len(done)}/"

    first = carry_out_once(user=coordinator, form="test", key="k1", act=act)
    again = carry_out_once(user=coordinator, form="test", key="k1", act=act)
    assert (first.url, first.replayed, again.url, again.replayed) == ("/result/1/", False, "/result/1/", True)
    assert done == [1]


def test_a_refused_act_leaves_the_key_unused(coordinator: Any) -> None:
    def refuse() -> str:
        raise DomainError("Not now.")

    with pytest.raises(DomainError):
        carry_out_once(user=coordinator, form="test", key="k2", act=refuse)
    assert not FormSubmission.objects.exists()
    assert carry_out_once(user=coordinator, form="test", key="k2", act=lambda: "/ok/").replayed is False


def test_another_user_with_the_same_key_is_not_a_replay(coordinator: Any, investigator: Any) -> None:
    carry_out_once(user=coordinator, form="test", key="same", act=lambda: "/a/")
    assert carry_out_once(user=investigator, form="test", key="same", act=lambda: "/b/").url == "/b/"


@pytest.mark.parametrize("key", ["", None, "x" * 65])
def test_a_form_without_a_usable_key_is_refused_as_out_of_date(coordinator: Any, key: Any) -> None:
    with pytest.raises(StaleForm, match="out of date"):
        carry_out_once(user=coordinator, form="test", key=key, act=lambda: "/never/")


def test_keys_older_than_a_week_are_forgotten_hourly(coordinator: Any) -> None:
    now = clock.now()
    with clock.use(clock.SimulatedClock(now - KEEP - timedelta(minutes=1))):
        carry_out_once(user=coordinator, form="test", key="old", act=lambda: "/old/")
    carry_out_once(user=coordinator, form="test", key="new", act=lambda: "/new/")
    assert submissions_forget(now=now) == 1
    assert list(FormSubmission.objects.values_list("key", flat=True)) == ["new"]
    assert forget_form_submissions() == 0
    assert settings.CELERY_BEAT_SCHEDULE["forget-form-submissions"]["task"] == "workspace.tasks.forget_form_submissions"
