"""A visit has one live link: each message mints a new one and the earlier links are replaced; opening an
older message shows a page saying to use the latest one, not the questionnaire."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connections
from django.test import Client

from assessments.models import AccessLink, ScheduledAssessment
from assessments.services.links import link_create
from assessments.services.sweep import sweep
from tests import helpers

LINK = re.compile(r"https?://\S+(/q/[\w-]+/)")


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("mail server down")


def _week4(participant: Any) -> ScheduledAssessment:
    return ScheduledAssessment.objects.get(participant=participant, visit__code="week4")


def _links_in_mail() -> list[str]:
    return [match.group(1) for m in mail.outbox if (match := LINK.search(m.body))]


@pytest.mark.django_db
def test_after_a_reminder_only_its_link_opens_the_questionnaire(trial):
    participant = helpers.randomized(trial)
    week4 = _week4(participant)
    mail.outbox.clear()
    sweep(now=week4.opens_at)  # the invitation
    sweep(now=week4.opens_at + timedelta(days=2))  # the first reminder
    invitation, reminder = _links_in_mail()
    assert invitation != reminder

    assert AccessLink.objects.filter(assessment=week4, replaced_at__isnull=True).count() == 1
    client = Client()
    latest = client.get(reminder)
    assert latest.status_code == 200 and "Your questionnaires" in latest.content.decode()
    older = client.get(invitation)
    assert older.status_code == 410
    page = older.content.decode()
    assert "This link has been replaced" in page and "latest message" in page
    assert "Your questionnaires" not in page


@pytest.mark.django_db
def test_a_reminder_that_could_not_be_sent_leaves_the_invitation_link_working(trial, settings):
    participant = helpers.randomized(trial)
    week4 = _week4(participant)
    mail.outbox.clear()
    sweep(now=week4.opens_at)
    (invitation,) = _links_in_mail()
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    sweep(now=week4.opens_at + timedelta(days=2))  # the reminder's send fails: its link is taken back

    assert Client().get(invitation).status_code == 200
    assert AccessLink.objects.filter(assessment=week4).count() == 1


@pytest.mark.django_db
def test_a_replaced_link_past_the_window_reads_as_expired(trial):
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    first = link_create(assessment=baseline)
    link_create(assessment=baseline)
    AccessLink.objects.update(expires_at=baseline.opens_at)
    assert Client().get(first[first.index("/q/") :]).status_code == 410
    assert "expired" in Client().get(first[first.index("/q/") :]).content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_links_minted_at_once_leave_one_live_link(trial):
    participant = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=participant, visit__code="baseline")
    senders = 4
    barrier = threading.Barrier(senders)

    def mint(_: int) -> str:  # the reminder sweep and resends, at the same moment
        try:
            barrier.wait()
            return link_create(assessment=baseline)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=senders) as pool:
        urls = list(pool.map(mint, range(senders)))

    assert len(set(urls)) == senders
    assert AccessLink.objects.filter(assessment=baseline, replaced_at__isnull=True).count() == 1
    opened = [Client().get(url[url.index("/q/") :]).status_code for url in urls]
    assert sorted(opened) == [200] + [410] * (senders - 1)
