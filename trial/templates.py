"""Create a trial from a template file (JSON): the design, sites, visits, screening rules and the first
consent document, validated as a whole before anything is written.

A template may start from another: ``"extends": "therabot"`` (a bundled name, or a path relative to the
extending file) reads that template first, and each top-level key the extending template gives replaces
the base's key whole. Lists and objects are not merged (a visit list given is the whole visit list), so
what a trial runs is always readable from the keys of one file or the other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from trial.audit import Actor, audit_record
from trial.errors import DomainError
from trial.models import (
    AnalysisOutcome,
    Arm,
    ConsentDocument,
    EligibilityRule,
    FactorLevel,
    ScreeningField,
    Site,
    StratificationFactor,
    Trial,
    TrialStatus,
    VisitDefinition,
    VisitInstrument,
)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "trials"


class TemplateInvalid(DomainError):
    code = "invalid_template"


def template_path(name_or_path: str) -> Path:
    """A bundled template by name (``therabot``) or a path to a JSON file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.exists():
        return candidate
    return TEMPLATE_DIR / f"{name_or_path}.json"


def _read_json(path: Path, name_or_path: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        bundled = ", ".join(sorted(p.stem for p in TEMPLATE_DIR.glob("*.json")))
        raise TemplateInvalid(f"No template {name_or_path!r} (bundled templates: {bundled}).") from None
    except json.JSONDecodeError as exc:
        raise TemplateInvalid(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    if not isinstance(data, dict):
        raise TemplateInvalid(f"{path}: the template must be a JSON object.")
    return data


def read_template(name_or_path: str, *, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The template's data, with what it ``extends`` read first and its own keys laid over it."""
    path = template_path(name_or_path)
    data = _read_json(path, name_or_path)
    if "extends" not in data:
        return data
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name.strip():
        raise TemplateInvalid(f"{path}: extends: expected the name or path of a template, got {base_name!r}.")
    here = path.resolve()
    seen = (*_seen, here)
    # A path is read relative to the extending file; a bare name is a bundled template.
    relative = path.parent / base_name
    base_ref = str(relative) if base_name.endswith(".json") or relative.exists() else base_name
    if template_path(base_ref).resolve() in seen:
        chain = " -> ".join(p.stem for p in (*seen, template_path(base_ref).resolve()))
        raise TemplateInvalid(f"{path}: extends: the templates extend each other in a circle ({chain}).")
    try:
        base = read_template(base_ref, _seen=seen)
    except TemplateInvalid as exc:
        raise TemplateInvalid(f"{path}: extends {base_name!r}: {exc.message}") from None
    return {**base, **data}


def _apply(instance: Any, where: str, data: Any, parents: dict[str, Any]) -> Any:
    """Set ``data`` on ``instance``, validate it as a form would, save it; errors name ``where``."""
    if not isinstance(data, dict):
        raise TemplateInvalid(f"{where}: expected an object, got {type(data).__name__}.")
    names = {f.name for f in instance._meta.get_fields()}
    unknown = sorted(set(data) - names)
    if unknown:
        raise TemplateInvalid(f"{where}: unknown key(s) {', '.join(unknown)}.")
    for name, value in {**data, **parents}.items():
        setattr(instance, name, value)
    try:
        instance.full_clean(exclude=list(parents), validate_unique=False)
    except ValidationError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise TemplateInvalid(f"{where}: {messages}") from None
    instance.save()
    return instance


def _build(model: type[models.Model], where: str, data: Any, **parents: Any) -> Any:
    return _apply(model(), where, data, parents)


def _items(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise TemplateInvalid(f"{key}: expected a list.")
    return value


@transaction.atomic
def trial_create_from_template(
    *, data: dict[str, Any], by: Actor, slug: str | None = None, replace: bool = False
) -> Trial:
    """Create the trial in draft. ``replace`` deletes an existing draft trial of the same slug first;
    a trial that has left draft is never replaced."""
    data = dict(data)
    children = {
        key: data.pop(key, None)
        for key in (
            "arms",
            "sites",
            "factors",
            "visits",
            "screening_fields",
            "eligibility_rules",
            "consent_document",
            "outcomes",
        )
    }
    if slug:
        data["slug"] = slug
    data.pop("status", None)
    existing = Trial.objects.filter(slug=data.get("slug")).first()
    if existing is None:
        trial: Trial = _build(Trial, "trial", data)
    else:
        if existing.status != TrialStatus.DRAFT:
            raise TemplateInvalid(f"Trial {existing.slug} exists and is {existing.status}; it cannot be replaced.")
        if not replace:
            raise TemplateInvalid(f"Trial {existing.slug} exists; pass replace to rebuild the draft.")
        # Rebuilt in place: the trial row keeps its audit trail, which can never be deleted.
        for related in (
            existing.arms,
            existing.sites,
            existing.factors,
            existing.visits,
            existing.screening_fields,
            existing.eligibility_rules,
            existing.consent_documents,
            existing.outcomes,
        ):
            related.all().delete()
        trial = _apply(existing, "trial", data, {})
    for i, item in enumerate(_items(children, "arms")):
        _build(Arm, f"arms[{i}]", {"order": i, **item}, trial=trial)
    for i, item in enumerate(_items(children, "sites")):
        _build(Site, f"sites[{i}]", item, trial=trial)
    for i, item in enumerate(_items(children, "factors")):
        item = dict(item) if isinstance(item, dict) else item
        levels = item.pop("levels", []) if isinstance(item, dict) else []
        factor = _build(StratificationFactor, f"factors[{i}]", {"order": i, **item}, trial=trial)
        for j, level in enumerate(levels):
            _build(FactorLevel, f"factors[{i}].levels[{j}]", {"order": j, **level}, factor=factor)
    arms = {arm.code: arm for arm in trial.arms.all()}
    for i, item in enumerate(_items(children, "visits")):
        item = dict(item) if isinstance(item, dict) else item
        instruments = item.pop("instruments", []) if isinstance(item, dict) else []
        visit = _build(VisitDefinition, f"visits[{i}]", {"order": i, **item}, trial=trial)
        if not isinstance(instruments, list):
            raise TemplateInvalid(f"visits[{i}].instruments: expected a list.")
        for j, entry in enumerate(instruments):
            where = f"visits[{i}].instruments[{j}]"
            entry = {"instrument_code": entry} if isinstance(entry, str) else dict(entry)
            arm_code = entry.pop("arm", None)
            if arm_code is not None and arm_code not in arms:
                raise TemplateInvalid(f"{where}: no arm {arm_code!r} (arms: {', '.join(arms)}).")
            if "code" in entry:
                entry["instrument_code"] = entry.pop("code")
            _build(
                VisitInstrument, where, {"order": j, **entry}, visit=visit, arm=arms.get(arm_code) if arm_code else None
            )
    for i, item in enumerate(_items(children, "screening_fields")):
        _build(ScreeningField, f"screening_fields[{i}]", {"order": i, **item}, trial=trial)
    for i, item in enumerate(_items(children, "eligibility_rules")):
        _build(EligibilityRule, f"eligibility_rules[{i}]", {"order": i, **item}, trial=trial)
    for i, item in enumerate(_items(children, "outcomes")):
        item = dict(item) if isinstance(item, dict) else item
        if isinstance(item, dict):
            if "instrument" in item:
                item["instrument_code"] = item.pop("instrument")
            subgroup = item.pop("subgroup", None) or {}
            if not isinstance(subgroup, dict) or set(subgroup) - {"factor", "level"}:
                raise TemplateInvalid(f'outcomes[{i}].subgroup: expected {{"factor": ..., "level": ...}}.')
            item["subgroup_factor"] = subgroup.get("factor", "")
            item["subgroup_level"] = subgroup.get("level", "")
        _build(AnalysisOutcome, f"outcomes[{i}]", {"order": i, **item}, trial=trial)
    if children["consent_document"]:
        _build(ConsentDocument, "consent_document", children["consent_document"], trial=trial)
    audit_record(actor=by, action="trial.create_from_template", obj=trial, trial=trial)
    return trial
