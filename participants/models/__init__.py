from participants.models.adverse_events import AdverseEvent, AEOutcome, AERelatedness, AESeriousness, AESeverity
from participants.models.core import (
    CHANNELS_OF,
    TRANSITIONS,
    Allocation,
    Consent,
    ContactChannels,
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
from participants.models.message_templates import MessageTemplate
from participants.models.outbox import Channel, MessageStatus, OutboxMessage
from participants.models.safety import AlertSource, AlertStatus, RiskLevel, SafetyAlert

__all__ = [
    "CHANNELS_OF",
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
    "ContactChannels",
    "ContactDetails",
    "EmergencyUnblinding",
    "EngagementSession",
    "JoinApplication",
    "JoinStatus",
    "MessageStatus",
    "MessageTemplate",
    "OutboxMessage",
    "Participant",
    "RandomizationSequence",
    "RiskLevel",
    "SafetyAlert",
    "Status",
    "StatusChange",
    "StudyIdCounter",
]
