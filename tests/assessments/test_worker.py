"""A real Celery worker, consuming from Redis, delivers an invitation exactly once."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from config.celery import app as celery_app
from participants.models import OutboxMessage
from participants.tasks import deliver_outbox
from tests import helpers


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_an_invitation_exactly_once(db):
    from celery.contrib.testing.worker import start_worker

    trial = helpers.open_reference_trial()
    celery_app.conf.task_always_eager = False
    assert celery_app.conf.broker_url.startswith("redis://")

    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=15):
        participant = helpers.enrolled(trial)  # commits, and queues delivery through Redis
        for _ in range(5):  # retried and duplicated tasks, handled by four threads at once
            deliver_outbox.delay()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = OutboxMessage.objects.get(participant=participant)
            if message.status == "sent":
                break
            time.sleep(0.1)
        time.sleep(1)  # let the other tasks finish: none may send it again

    message = OutboxMessage.objects.get(participant=participant)
    assert (message.status, message.attempts) == ("sent", 1)
    assert [m.to for m in mail.outbox] == [["jamie@example.org"]]
