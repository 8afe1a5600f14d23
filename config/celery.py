"""The Celery app. Broker and behaviour come from the CELERY_* settings (config/settings.py)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("trialplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _keep_django_logging(**kwargs: object) -> None:
    """Workers and beat log through settings.LOGGING, whose handlers redact secrets: without a receiver
    here Celery would replace the root logger's handlers with its own (LOG_LEVEL sets the level)."""
