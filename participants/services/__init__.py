"""Every write to participant data goes through these services: typed, keyword-only, transactional,
audited."""

from participants.services.enrollment import (
    ContactInput,
    contact_update,
    participant_consent,
    participant_enroll,
    participant_screen,
    phone_e164,
)
from participants.services.lifecycle import (
    participant_complete,
    participant_mark_lost,
    participant_return,
    participant_withdraw,
)
from participants.services.randomization import participant_randomize, randomization_refusal
from participants.services.unblinding import participant_unblind

__all__ = [
    "ContactInput",
    "contact_update",
    "participant_complete",
    "participant_consent",
    "participant_enroll",
    "participant_mark_lost",
    "participant_randomize",
    "participant_return",
    "participant_screen",
    "participant_unblind",
    "participant_withdraw",
    "phone_e164",
    "randomization_refusal",
]
