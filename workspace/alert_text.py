"""What raised a safety alert, in words a clinician reads at a glance: "PHQ-9 item 9 answered 'More than
half the days' (2), total 17, Baseline visit". Built from the alert's details as the write paths fill them
(assessments/services/submission.py ``_alert``, participants/services/chatbot.py) and the instrument's
definition (the answer's label); nothing here queries the database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assessments.instruments import Instrument, UnknownInstrumentError, default_registry
from participants.models import AlertSource, SafetyAlert


def _item_words(key: str) -> str:
    number = key.rsplit("_", 1)[-1]
    return f"item {number}" if number.isdigit() else key


def _answer_words(instrument: Instrument, item: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"answered {value!r}" if value not in (None, "") else "not answered"
    try:
        return f"answered '{instrument.option_label(item, value)}' ({value:g})"
    except KeyError:
        return f"answered {value:g}"


def _questionnaire(alert: SafetyAlert, visit_names: Mapping[str, str]) -> str:
    details = alert.details if isinstance(alert.details, dict) else {}
    code = str(details.get("instrument", ""))
    try:
        instrument: Instrument | None = default_registry().get(code)
    except (UnknownInstrumentError, KeyError):
        instrument = None
    name = instrument.short_name if instrument else (code.upper() or "Questionnaire")
    base_flag = "suicidal_ideation" if alert.flag == "suicidal_ideation_severe" else alert.flag
    rule = next((r for r in instrument.flags if r.name == alert.flag), None) if instrument else None
    rule = rule or (next((r for r in instrument.flags if r.name == base_flag), None) if instrument else None)
    if rule is None or instrument is None:
        parts = [f"{name}: {alert.flag.replace('_', ' ')}"]
    else:
        item = rule.item
        answers = details.get("answers") if isinstance(details.get("answers"), dict) else None
        if rule.when_missing:
            parts = [f"{name} {_item_words(item)} missing"]
        elif answers is not None and item in answers:
            parts = [f"{name} {_item_words(item)} {_answer_words(instrument, item, answers[item])}"]
        elif rule.minimum is not None:  # an alert raised before the answer was kept in its details
            least = int(rule.minimum) if rule.minimum == int(rule.minimum) else float(rule.minimum)
            top = max(instrument.item(item).values)
            if least == top:
                parts = [f"{name} {_item_words(item)} {_answer_words(instrument, item, least)}"]
            else:
                parts = [f"{name} {_item_words(item)} answered at least {_answer_words(instrument, item, least)[9:]}"]
        else:
            parts = [f"{name}: {alert.flag.replace('_', ' ')}"]
    total = details.get("total")
    if isinstance(total, int | float) and not isinstance(total, bool):
        parts.append(f"total {total:g}")
    visit = details.get("visit")
    if visit:
        parts.append(f"{visit_names.get(str(visit), str(visit))} visit")
    text = ", ".join(parts)
    if details.get("recorded") is False:
        text += f" (not recorded: {details.get('why') or 'refused'})"
    return text


def _chatbot(alert: SafetyAlert) -> str:
    details = alert.details if isinstance(alert.details, dict) else {}
    severity = str(details.get("severity") or "").strip()
    summary = str(details.get("summary") or "").strip()
    inner = "; ".join(x for x in (f"severity {severity}" if severity else "", summary) if x)
    text = f"Chatbot crisis flag ({inner})" if inner else "Chatbot crisis flag"
    if details.get("recorded") is False:
        text += f" (not recorded: {details.get('why') or 'refused'})"
    return text


def describe(alert: SafetyAlert, visit_names: Mapping[str, str] | None = None) -> str:
    """The alert's trigger in words. ``visit_names`` maps visit codes to names (Baseline, Week 4)."""
    if alert.source == AlertSource.CHATBOT:
        return _chatbot(alert)
    return _questionnaire(alert, visit_names or {})
