"""Named domain events of the protocol: how trial services cause work in higher apps without importing them.

Services send these explicitly, inside their transaction, after the change is written; receivers (the
participants app connects them in its AppConfig.ready) therefore commit or roll back with the change.
Nothing here is a model-save signal.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with request=..., step=... ("requested", "confirmed", "rejected"), by=... at each step of a
# trial unblinding request (trial.services.trial_unblinding_*).
trial_unblinding_step = Signal()
