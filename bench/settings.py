"""Bench-only settings: the project's settings, plus a URLconf with the bare baseline view."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
