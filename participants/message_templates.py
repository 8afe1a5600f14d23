"""Messages as templates: every e-mail and SMS the platform writes is a set of Django templates (subject,
plain text, HTML, optionally SMS), which a trial may replace per language with wording its ethics
committee approved (``MessageTemplate``: versioned, the newest sent).

Convention: kind ``K``'s default templates live at ``templates/messages/<K>/subject.txt``, ``body.txt``,
``body.html`` and, for kinds sent by SMS, ``sms.txt``, in the app that owns the kind, which registers it
with ``register_template_kind`` (an app's ``ready``). Kinds owned by a higher app register from there
(assessments/apps.py), and so does what the base context needs from higher up (the crisis resources:
``register_context_provider``).

A trial's wording is checked when it is saved, never first at send time (``message_template_save``):
it compiles, renders with the kind's sample context in its language, names no variable the context
lacks, has a one-line subject naming no arm and not the scientific title (subjects show on lock
screens), and has no script in its HTML part.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine, Template, TemplateDoesNotExist, TemplateSyntaxError, engines
from django.utils import timezone as django_timezone
from django.utils import translation

from participants.models import MessageTemplate
from trial.audit import Actor, actor_user, audit_record
from trial.errors import DomainError
from trial.models import Trial

PARTS = ("subject", "text", "html", "sms")
_FILES = {"subject": "subject.txt", "text": "body.txt", "html": "body.html", "sms": "sms.txt"}
_MISSING = "\x00missing:%s\x00"
_MISSING_RE = re.compile("\x00missing:(.*?)\x00")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")  # what {% if %} lines leave in a text part
_SCRIPT = re.compile(r"<\s*script\b|\bjavascript\s*:|\son[a-z]+\s*=", re.IGNORECASE)


class TemplateRefused(DomainError):
    code = "message_template_invalid"


@dataclass(frozen=True)
class TemplateKind:
    kind: str
    description: str
    sample_context: Callable[[], dict[str, Any]]
    # Staff messages (safety alerts) are written in the deployment's language: staff have none of their own.
    staff: bool = False
    sms: bool = False


@dataclass(frozen=True)
class MessageParts:
    subject: str
    text: str
    html: str
    sms: str | None = None


@dataclass(frozen=True)
class Sources:
    """The template sources of one message (a trial's version, or the defaults)."""

    subject: str
    text: str
    html: str
    sms: str = ""
    version: int | None = None  # None: the defaults


_kinds: dict[str, TemplateKind] = {}
ContextProvider = Callable[[Trial, str], dict[str, Any]]
_providers: list[ContextProvider] = []


def register_template_kind(
    kind: str,
    *,
    description: str,
    sample_context: Callable[[], dict[str, Any]],
    staff: bool = False,
    sms: bool = False,
) -> None:
    """Register a kind whose defaults are ``templates/messages/<kind>/``. ``sample_context`` gives what a
    real message's context holds (beyond the base context), with made-up values: previews and the check
    on save render with it."""
    _kinds[kind] = TemplateKind(kind=kind, description=description, sample_context=sample_context, staff=staff, sms=sms)


def register_context_provider(provider: ContextProvider) -> None:
    """Add to every message's context (called with the trial and the language, the language active)."""
    if provider not in _providers:
        _providers.append(provider)


def template_kinds() -> list[TemplateKind]:
    return [_kinds[k] for k in sorted(_kinds)]


def template_kind(kind: str) -> TemplateKind:
    try:
        return _kinds[kind]
    except KeyError:
        known = ", ".join(sorted(_kinds)) or "none"
        raise TemplateRefused(f"Unknown message kind {kind!r} (known: {known}).", field="kind") from None


def kind_languages(kind: str, trial: Trial) -> list[str]:
    """The languages a kind is written in for a trial: the trial's, or the deployment's for staff."""
    if template_kind(kind).staff:
        return [settings.LANGUAGE_CODE.split("-")[0]]
    return list(trial.languages or [settings.LANGUAGE_CODE.split("-")[0]])


# Two engines over the same template directories: HTML autoescaped, text (subject, body, SMS) not. The
# checking engines show a variable the context lacks instead of rendering it as nothing.
def _engine(*, autoescape: bool, strict: bool) -> Engine:
    return Engine(
        app_dirs=True,
        autoescape=autoescape,
        string_if_invalid=_MISSING if strict else "",
        libraries=engines["django"].engine.libraries,  # type: ignore[attr-defined]
        builtins=["django.templatetags.i18n"],
    )


_ENGINES: dict[tuple[bool, bool], Engine] = {}


def _engine_for(part: str, *, strict: bool = False) -> Engine:
    key = (part == "html", strict)
    if key not in _ENGINES:
        _ENGINES[key] = _engine(autoescape=key[0], strict=strict)
    return _ENGINES[key]


def default_sources(kind: str) -> Sources:
    """The kind's default templates, as text (the admin's starting point for a trial's own wording)."""
    template_kind(kind)
    found: dict[str, str] = {}
    for part, filename in _FILES.items():
        try:
            template = _engine_for(part).get_template(f"messages/{kind}/{filename}")
        except TemplateDoesNotExist:
            if part == "sms":
                found[part] = ""
                continue
            raise
        found[part] = template.source
    return Sources(subject=found["subject"], text=found["text"], html=found["html"], sms=found["sms"])


def current_template(*, trial: Trial, kind: str, language: str) -> MessageTemplate | None:
    """The trial's newest version for this kind and language, if it has one."""
    return MessageTemplate.objects.filter(trial=trial, kind=kind, language=language).order_by("-version").first()


def current_sources(*, trial: Trial, kind: str, language: str) -> Sources:
    row = current_template(trial=trial, kind=kind, language=language)
    if row is None:
        return default_sources(kind)
    return Sources(subject=row.subject, text=row.text, html=row.html, sms=row.sms, version=row.version)


def trial_contact_email(trial: Trial, language: str) -> str:
    """The study team's address participants may write to, where the trial names one."""
    direct = getattr(trial, "contact_email", "")
    if direct:
        return str(direct)
    info = trial.public_info if isinstance(trial.public_info, dict) else {}
    for lang in (language, *(trial.languages or [])):
        entry = info.get(lang)
        if isinstance(entry, dict) and entry.get("contact_email"):
            return str(entry["contact_email"])
    return str(getattr(settings, "STUDY_CONTACT_EMAIL", "") or "")


def base_context(*, trial: Trial, language: str) -> dict[str, Any]:
    """What every message's context holds (call with ``language`` active)."""
    context: dict[str, Any] = {
        "first_name": "",  # each kind's context gives it (the participant's, the staff member's)
        "study_name": trial.public_text(language)["name"],
        "contact_email": trial_contact_email(trial, language),
        "language": language,
        "crisis_resources": [],
    }
    for provider in _providers:
        context.update(provider(trial, language))
    return context


def _tz(value: tzinfo | str) -> tzinfo:
    return zoneinfo.ZoneInfo(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=256)  # a compiled template renders any number of times (the sweep's invitations)
def _compile(source: str, part: str, *, strict: bool = False) -> Template:
    return _engine_for(part, strict=strict).from_string(source)


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _render_sources(sources: Sources, context: dict[str, Any], *, strict: bool = False) -> MessageParts:
    rendered = {}
    for part in PARTS:
        source = getattr(sources, part)
        if part == "sms" and not source.strip():
            continue
        rendered[part] = _compile(source, part, strict=strict).render(Context(context, autoescape=part == "html"))
    html = (
        _engine_for("html")
        .get_template("messages/layout.html")
        .render(Context({"content": rendered["html"], "subject": _single_line(rendered["subject"]), **context}))
    )
    return MessageParts(
        subject=_single_line(rendered["subject"]),
        text=_BLANK_LINES.sub("\n\n", rendered["text"]).strip() + "\n",
        html=html,
        sms=_single_line(rendered["sms"]) if "sms" in rendered else None,
    )


def render_sources(
    sources: Sources, *, trial: Trial, language: str, timezone: tzinfo | str, context: dict[str, Any]
) -> MessageParts:
    with translation.override(language), django_timezone.override(_tz(timezone)):
        full = {**base_context(trial=trial, language=language), **context}
        return _render_sources(sources, full)


def render_message(
    kind: str, *, trial: Trial, language: str, timezone: tzinfo | str, context: dict[str, Any]
) -> MessageParts:
    """Write a message of ``kind``: the trial's current wording for the language if it has one, else the
    defaults, in the language and timezone given (dates in templates show in that timezone)."""
    template_kind(kind)
    sources = current_sources(trial=trial, kind=kind, language=language)
    return render_sources(sources, trial=trial, language=language, timezone=timezone, context=context)


def sample_context(kind: str) -> dict[str, Any]:
    return template_kind(kind).sample_context()


def render_sample(kind: str, *, trial: Trial, language: str, sources: Sources | None = None) -> MessageParts:
    """A preview: the kind rendered with its sample participant (the trial's current wording unless
    ``sources`` is given), in the trial's timezone."""
    if sources is None:
        sources = current_sources(trial=trial, kind=kind, language=language)
    with translation.override(language):
        context = sample_context(kind)
    return render_sources(sources, trial=trial, language=language, timezone=trial.timezone, context=context)


# ------------------------------------------------------------------------------------------------
# Checking and saving a trial's own wording
# ------------------------------------------------------------------------------------------------


def forbidden_in_subject(trial: Trial) -> list[str]:
    """What a subject must never contain: the scientific title and every arm's name and code (codes of one
    or two characters, such as "A", are words of ordinary sentences and tell nothing)."""
    words = [trial.title]
    for arm in trial.arms.all():
        words += [arm.name, arm.code]
    return [w.strip() for w in words if w and len(w.strip()) > 2]


def _contains(text: str, word: str) -> bool:
    # A whole-word, case-insensitive match: an arm coded "A" must not forbid every "a" in a subject.
    return re.search(rf"(?<!\w){re.escape(word.strip())}(?!\w)", text, re.IGNORECASE) is not None


def message_template_check(
    *, trial: Trial, kind: str, language: str, subject: str, text: str, html: str, sms: str = ""
) -> MessageParts:
    """Refuse wording that cannot be sent, naming the part and the problem; return the sample rendering."""
    info = template_kind(kind)
    allowed = kind_languages(kind, trial)
    if language not in allowed:
        raise TemplateRefused(
            f"The trial's {kind} messages are written in {', '.join(allowed)}, not {language!r}.", field="language"
        )
    sources = Sources(subject=subject, text=text, html=html, sms=sms)
    for part in PARTS:
        source = getattr(sources, part)
        if part != "sms" and not source.strip():
            raise TemplateRefused(f"The {part} is empty.", field=part)
        if part == "sms" and source.strip() and not info.sms:
            raise TemplateRefused(f"{kind} messages are not sent by SMS: leave the SMS text empty.", field="sms")
        if part == "sms" and not source.strip() and info.sms:
            raise TemplateRefused(f"{kind} messages may go by SMS: give the SMS text too.", field="sms")
        try:
            _compile(source, part, strict=True)
        except TemplateSyntaxError as exc:
            raise TemplateRefused(f"The {part} is not a valid template: {exc}", field=part) from None
    if "\n" in subject.strip() or "\r" in subject.strip():
        raise TemplateRefused("The subject must be a single line.", field="subject")
    if _SCRIPT.search(html):
        raise TemplateRefused(
            "The HTML part must not contain scripts (<script>, javascript: links or on...= handlers).", field="html"
        )
    try:
        with translation.override(language), django_timezone.override(_tz(trial.timezone)):
            context = sample_context(kind)
            full = {**base_context(trial=trial, language=language), **context}
            parts = {}
            for part in PARTS:
                source = getattr(sources, part)
                if part == "sms" and not source.strip():
                    continue
                parts[part] = _compile(source, part, strict=True).render(Context(full, autoescape=part == "html"))
                missing = _MISSING_RE.search(parts[part])
                if missing:
                    raise TemplateRefused(
                        f"The {part} uses {{{{ {missing.group(1)} }}}}, which a {kind} message does not have "
                        f"(available: {', '.join(sorted(full))}).",
                        field=part,
                    )
            rendered = _render_sources(sources, full)
    except TemplateRefused:
        raise
    except Exception as exc:
        raise TemplateRefused(
            f"The template fails to render with a sample {kind} message: {type(exc).__name__}: {exc}"
        ) from None
    if not rendered.subject:
        raise TemplateRefused("The subject renders empty.", field="subject")
    if "\n" in parts["subject"].strip():
        raise TemplateRefused("The subject must render to a single line.", field="subject")
    for word in forbidden_in_subject(trial):
        if _contains(rendered.subject, word):
            what = "the scientific title" if word == trial.title else f"an arm ({word!r})"
            raise TemplateRefused(
                f"The subject names {what}: subjects show on lock screens and must not tell the trial's arms.",
                field="subject",
            )
    return rendered


@transaction.atomic
def message_template_save(
    *,
    trial: Trial,
    kind: str,
    language: str,
    subject: str,
    text: str,
    html: str,
    sms: str = "",
    reason: str = "",
    by: Actor,
) -> MessageTemplate:
    """Save a trial's wording as the next version (the one sent from now on), once checked."""
    message_template_check(trial=trial, kind=kind, language=language, subject=subject, text=text, html=html, sms=sms)
    Trial.objects.select_for_update().filter(pk=trial.pk).first()  # one version number at a time
    previous = current_template(trial=trial, kind=kind, language=language)
    row = MessageTemplate.objects.create(
        trial=trial,
        kind=kind,
        language=language,
        version=(previous.version if previous else 0) + 1,
        subject=subject.strip(),
        text=text,
        html=html,
        sms=sms,
        reason=reason.strip(),
        created_by=actor_user(by),
    )
    audit_record(
        actor=by,
        action="message_template.save",
        obj=row,
        trial=trial,
        changes={
            "kind": [None, kind],
            "language": [None, language],
            "version": [previous.version if previous else None, row.version],
            "subject": [previous.subject if previous else None, row.subject],
        },
        reason=reason.strip(),
    )
    return row


def message_templates_of(trial: Trial, kinds: Iterable[str] | None = None) -> list[MessageTemplate]:
    rows = MessageTemplate.objects.filter(trial=trial)
    if kinds is not None:
        rows = rows.filter(kind__in=list(kinds))
    return list(rows.order_by("kind", "language", "-version"))
