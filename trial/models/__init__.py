from trial.models.access import Role, TrialMembership
from trial.models.audit import AuditEvent
from trial.models.protocol import (
    AnalysisOutcome,
    Arm,
    ConsentDocument,
    EligibilityRule,
    FactorLevel,
    OnlineJoining,
    RandomizationMethod,
    ScreeningField,
    Site,
    StratificationFactor,
    Trial,
    TrialStatus,
    VisitDefinition,
    VisitInstrument,
    register_design_check,
)
from trial.models.tokens import ApiToken
from trial.models.unblinding import TrialUnblindingRequest, UnblindingStatus

__all__ = [
    "AnalysisOutcome",
    "ApiToken",
    "Arm",
    "AuditEvent",
    "ConsentDocument",
    "EligibilityRule",
    "FactorLevel",
    "OnlineJoining",
    "RandomizationMethod",
    "Role",
    "ScreeningField",
    "Site",
    "StratificationFactor",
    "Trial",
    "TrialMembership",
    "TrialStatus",
    "TrialUnblindingRequest",
    "UnblindingStatus",
    "VisitDefinition",
    "VisitInstrument",
    "register_design_check",
]
