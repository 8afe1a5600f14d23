from participants.models.adverse_events import AdverseEvent, AEOutcome, AERelatedness, AESeriousness, AESeverity
from participants.models.core import (
    TRANSITIONS,
    Allocation,
    Consent,
    ContactDetails,
    EmergencyUnblinding,
    Participant,
    RandomizationSequence,
    Status,
    StatusChange,
    StudyIdCounter,
)
from participants.models.engagement import ChatbotApiKey, EngagementSession
from participants.models.joining import JoinApplication, JoinStatus
from participants.models.outbox import Channel, MessageStatus, OutboxMessage
from participants.models.safety import AlertSource, AlertStatus, RiskLevel, SafetyAlert

__all__ = [
    "TRANSITIONS",
    "AEOutcome",
    "AERelatedness",
    "AESeriousness",
    "AESeverity",
    "AdverseEvent",
    "AlertSource",
    "AlertStatus",
    "Allocation",
    "Channel",
    "ChatbotApiKey",
    "Consent",
    "ContactDetails",
    "EmergencyUnblinding",
    "EngagementSession",
    "JoinApplication",
    "JoinStatus",
    "MessageStatus",
    "OutboxMessage",
    "Participant",
    "RandomizationSequence",
    "RiskLevel",
    "SafetyAlert",
    "Status",
    "StatusChange",
    "StudyIdCounter",
]
