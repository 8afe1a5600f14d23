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
from participants.models.outbox import Channel, MessageStatus, OutboxMessage
from participants.models.safety import AlertSource, AlertStatus, RiskLevel, SafetyAlert

__all__ = [
    "TRANSITIONS",
    "AlertSource",
    "AlertStatus",
    "Allocation",
    "Channel",
    "ChatbotApiKey",
    "Consent",
    "ContactDetails",
    "EmergencyUnblinding",
    "EngagementSession",
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
