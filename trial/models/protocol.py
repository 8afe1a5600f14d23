"""The protocol: a trial, its arms, sites, strata, visit schedule, screening rules and consent documents.

Once a trial leaves draft, what its randomization depends on (arms and ratios, factors and levels, the
method and its parameters) is frozen: saving or deleting any of it raises IntegrityLocked. The check runs
in ``save()``/``delete()`` so the admin, the API and the shell are all held to it, and in ``clean()`` so
forms show it as a form error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from trial import clock, eligibility
from trial.errors import IntegrityLocked
from trial.randomization import ArmSpec, FactorSpec, validate_block_sizes


class TrialStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RECRUITING = "recruiting", "Recruiting"
    CLOSED = "closed", "Closed to recruitment"
    LOCKED = "locked", "Database locked"


class RandomizationMethod(models.TextChoices):
    STRATIFIED_BLOCK = "stratified_block", "Stratified permuted blocks (random block sizes)"
    MINIMIZATION = "minimization", "Pocock-Simon minimization with a random element"
    SIMPLE = "simple", "Simple randomization"


def timezone_validator(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name such as America/New_York or Europe/London.")


country_validator = RegexValidator(r"^[A-Z]{2}$", "A country is its two-letter ISO 3166 code, such as US or GB.")


def languages_validator(value: object) -> None:
    """A trial's participant languages: a non-empty list of the deployment's language codes, each once."""
    from django.conf import settings

    known = [code for code, _ in settings.LANGUAGES]
    if not isinstance(value, list) or not value or not all(isinstance(code, str) for code in value):
        raise ValidationError(
            f'List the languages participants may choose, e.g. ["en", "es"] (known: {", ".join(known)}).'
        )
    unknown = [code for code in value if code not in known]
    if unknown:
        raise ValidationError(f"Unknown language {unknown[0]!r}: this deployment has {', '.join(known)}.")
    if len(set(value)) != len(value):
        raise ValidationError("Each language is listed once.")


def default_languages() -> list[str]:
    return ["en"]


class OnlineJoining(models.TextChoices):
    """Whether people may join the trial themselves at ``/join/<slug>/`` (self-screening and e-consent), and
    what happens once they have verified their e-mail address."""

    OFF = "off", "Off: staff screen, consent and enroll"
    AUTOMATIC = "automatic", "On: enrolled as soon as the e-mail address is verified"
    REVIEW = "review", "On: a coordinator reviews each person before enrollment"


registry_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9\-/]{2,40}$", "Registry IDs look like NCT06013137 or ISRCTN12345678."
)


class Trial(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=300)
    registry_id = models.CharField(max_length=42, blank=True, validators=[registry_id_validator])
    status = models.CharField(max_length=12, choices=TrialStatus.choices, default=TrialStatus.DRAFT)
    randomization_method = models.CharField(
        max_length=20, choices=RandomizationMethod.choices, default=RandomizationMethod.STRATIFIED_BLOCK
    )
    block_sizes = models.JSONField(
        default=list, blank=True, help_text="Permuted-block sizes, each a multiple of the sum of the ratios."
    )
    minimization_probability = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.5), MaxValueValidator(1.0)]
    )
    open_label = models.BooleanField(
        default=True,
        help_text="Open label: staff see each randomized participant's arm. Otherwise arms are masked from "
        "staff and need emergency unblinding. Blinded statisticians see A/B either way.",
    )
    conceal_allocation_order = models.BooleanField(
        default=False,
        help_text="Hide when each participant was allocated from the roles that enroll (coordinators, "
        "investigators): their lists show no allocation times and follow the study ID. In an open-label trial "
        "with permuted blocks the order of past allocations helps guess the next one.",
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[timezone_validator],
        help_text="The study team's time zone: staff pages show and take times in it, naming it.",
    )
    target_enrollment = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many participants the protocol plans to randomize (accrual target)."
    )
    study_id_prefix = models.CharField(max_length=10, validators=[RegexValidator(r"^[A-Z][A-Z0-9]*$")])
    study_id_digits = models.PositiveSmallIntegerField(default=4, validators=[MinValueValidator(3)])
    unblinded_at = models.DateTimeField(null=True, blank=True)
    unblinding_reason = models.TextField(blank=True)
    crisis_resources = models.JSONField(
        default=list,
        blank=True,
        help_text='Shown to participants on every page: [{"name": ..., "action": "Call or text 988", '
        '"href": "tel:988"}, ...]. Empty: the deployment\'s CRISIS_RESOURCES setting.',
    )
    languages = models.JSONField(
        default=default_languages,
        validators=[languages_validator],
        help_text='The languages participants may choose, first the default: ["en", "es"]. Every scheduled '
        "questionnaire, the consent document and every message must exist in each before recruiting opens.",
    )
    public_info = models.JSONField(
        default=dict,
        blank=True,
        help_text='What participants are told, per language: {"en": {"name": "The mood app study", "summary": '
        '"Why the study is run, what taking part means ..."}, "es": {...}}. The name heads their pages and '
        "message subjects, so it must name no arm: the scientific title above is for staff and registries.",
    )
    simulated = models.BooleanField(
        default=False,
        help_text="A simulated trial (set by the simulator): its participants are fictional, its links open no "
        "survey page, and it skips the check that every questionnaire has wording in every language.",
    )
    online_joining = models.CharField(
        max_length=10,
        choices=OnlineJoining.choices,
        default=OnlineJoining.OFF,
        help_text="People may screen themselves, consent and give their contact details at /join/<slug>/; "
        "after verifying their e-mail address they are enrolled at once, or once a coordinator approves.",
    )
    created_at = models.DateTimeField(default=clock.now)

    INTEGRITY_FIELDS: ClassVar[tuple[str, ...]] = (
        "randomization_method",
        "block_sizes",
        "minimization_probability",
        "study_id_prefix",
        "study_id_digits",
        "open_label",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        changed = self._frozen_changes()
        if changed:
            raise IntegrityLocked(
                f"Trial {self.slug} is {self.status}: {', '.join(changed)} cannot change once recruiting starts.",
                field=changed[0],
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self.design_frozen:
            raise IntegrityLocked(f"Trial {self.slug} has left draft and cannot be deleted.")
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        changed = self._frozen_changes()
        if changed:
            raise ValidationError(dict.fromkeys(changed, "Cannot change once the trial has left draft."))

    @property
    def design_frozen(self) -> bool:
        return self.status != TrialStatus.DRAFT

    def _frozen_changes(self) -> list[str]:
        if not self.pk:
            return []
        stored = Trial.objects.filter(pk=self.pk).values("status", *self.INTEGRITY_FIELDS).first()
        if stored is None or stored["status"] == TrialStatus.DRAFT:
            return []
        return [name for name in self.INTEGRITY_FIELDS if getattr(self, name) != stored[name]]

    # The specs the pure randomization code works with.
    def arm_specs(self) -> list[ArmSpec]:
        return [ArmSpec(code=a.code, ratio=a.ratio) for a in self.arms.all()]

    def factor_specs(self) -> list[FactorSpec]:
        return [
            FactorSpec(code=f.code, levels=tuple(level.code for level in f.levels.all()), weight=f.weight)
            for f in self.factors.prefetch_related("levels")
        ]

    def screening_specs(self) -> tuple[list[eligibility.FieldSpec], list[eligibility.RuleSpec]]:
        fields = [f.spec() for f in self.screening_fields.all()]
        rules = [r.spec() for r in self.eligibility_rules.all()]
        return fields, rules

    def public_text(self, language: str | None = None) -> dict[str, str]:
        """What participants are told in ``language`` (the trial's first language when it has none):
        ``name`` (never empty: "Research study" until one is given) and ``summary``."""
        info = self.public_info if isinstance(self.public_info, dict) else {}
        chosen = info.get(language or "") or info.get(self.languages[0] if self.languages else "en") or {}
        return {"name": str(chosen.get("name") or "") or "Research study", "summary": str(chosen.get("summary") or "")}

    def design_problems(self) -> list[str]:
        """What stops this trial from recruiting; empty when it can open."""
        problems: list[str] = []
        arms = self.arm_specs()
        if len(arms) < 2:
            problems.append("A trial needs at least two arms.")
        if self.randomization_method == RandomizationMethod.STRATIFIED_BLOCK and len(arms) >= 2:
            try:
                validate_block_sizes(arms, self.block_sizes)
            except ValueError:
                # Not the sizes themselves: this message reaches roles that must not learn them.
                problems.append(
                    f"The block sizes are not all positive multiples of {sum(a.ratio for a in arms)}, "
                    "the sum of the allocation ratios."
                )
        fields, rules = self.screening_specs()
        fields_by_code = {f.code: f for f in fields}
        for factor in self.factor_specs():
            if len(factor.levels) < 2:
                problems.append(f"Stratification factor {factor.code!r} needs at least two levels.")
            source = fields_by_code.get(factor.code)
            if (
                source is None
                or source.kind != "choice"
                or not source.required
                or set(source.choices) != set(factor.levels)
            ):
                problems.append(
                    f"Stratification factor {factor.code!r} needs a required choice screening field of the same "
                    f"code whose choices are its levels ({', '.join(factor.levels)})."
                )
        if not self.consent_documents.exists():
            problems.append("Publish a consent document before recruiting.")
        if not self.visits.exists():
            problems.append("Define the visit schedule (at least the baseline visit).")
        problems.extend(check_analysis_outcomes(self))
        if self.online_joining != OnlineJoining.OFF:
            problems.extend(check_online_wording(self))
        for check in design_checks:
            problems.extend(check(self))
        for rule in rules:
            try:
                eligibility.validate_rule(rule, fields)
            except ValueError as exc:
                problems.append(str(exc))
        return problems


class FrozenWithTrial(models.Model):
    """Part of the design that freezes when the trial leaves draft."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._refuse_if_frozen("changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_frozen("deleted")
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        try:
            self._refuse_if_frozen("changed")
        except IntegrityLocked as exc:
            raise ValidationError(exc.message) from exc

    def _trial(self) -> Trial:
        raise NotImplementedError

    def _refuse_if_frozen(self, verb: str) -> None:
        trial = Trial.objects.get(pk=self._trial().pk)
        if trial.design_frozen:
            raise IntegrityLocked(
                f"Trial {trial.slug} is {trial.status}: its {self._meta.verbose_name} cannot be {verb}."
            )


code_validator = RegexValidator(r"^[a-z0-9][a-z0-9_\-]*$", "Use lower-case letters, digits, - and _.")
level_code_validator = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", "Use letters, digits, - and _.")


class Arm(FrozenWithTrial):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="arms")
    code = models.CharField(max_length=40, validators=[code_validator])
    name = models.CharField(max_length=200)
    ratio = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    is_control = models.BooleanField(default=False)
    # Letter shown to blinded statisticians; drawn at random when recruitment opens.
    blinded_label = models.CharField(max_length=2, blank=True, editable=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="arm_code_unique_in_trial")]

    def __str__(self) -> str:
        return f"{self.name} ({self.ratio})"

    def _trial(self) -> Trial:
        return self.trial


class Site(models.Model):
    """Sites may join while a trial recruits; they are not part of the frozen design."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sites")
    code = models.CharField(max_length=40, validators=[code_validator])
    name = models.CharField(max_length=200)
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[country_validator],
        help_text="ISO 3166 code (US, GB): the default region of phone numbers entered for its participants "
        "and the time zones offered first. Blank: numbers must start with + and the country code.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="site_code_unique_in_trial")]

    def __str__(self) -> str:
        return self.name


class StratificationFactor(FrozenWithTrial):
    """A participant attribute randomization balances on. Its value comes from the screening answer
    with the same code."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="factors")
    code = models.CharField(max_length=40, validators=[code_validator])
    name = models.CharField(max_length=200)
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)], help_text="Minimization weight.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="factor_code_unique_in_trial")]

    def __str__(self) -> str:
        return self.name

    def _trial(self) -> Trial:
        return self.trial


class FactorLevel(FrozenWithTrial):
    factor = models.ForeignKey(StratificationFactor, on_delete=models.CASCADE, related_name="levels")
    code = models.CharField(max_length=40, validators=[level_code_validator])
    label = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["factor", "code"], name="level_code_unique_in_factor")]

    def __str__(self) -> str:
        return self.label

    def _trial(self) -> Trial:
        return self.factor.trial


class VisitAnchor(models.TextChoices):
    ENROLLMENT = "enrollment", "Enrollment"
    RANDOMIZATION = "randomization", "Randomization"


class VisitDefinition(models.Model):
    """A scheduled visit: due ``offset_days`` after its anchor, open from ``window_before_days`` before
    to ``window_after_days`` after the due date."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="visits")
    code = models.CharField(max_length=40, validators=[code_validator])
    name = models.CharField(max_length=200)
    week = models.PositiveSmallIntegerField(help_text="0 at baseline; the export's week column.")
    anchor = models.CharField(max_length=15, choices=VisitAnchor.choices, default=VisitAnchor.RANDOMIZATION)
    offset_days = models.PositiveSmallIntegerField(default=0)
    window_before_days = models.PositiveSmallIntegerField(default=0)
    window_after_days = models.PositiveSmallIntegerField(default=7)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "week", "id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="visit_code_unique_in_trial"),
            models.UniqueConstraint(fields=["trial", "week"], name="visit_week_unique_in_trial"),
        ]

    def __str__(self) -> str:
        return self.name


class VisitInstrument(models.Model):
    """An instrument due at a visit, for every arm or only one (the alliance scale in the chatbot arm).
    The code names an instrument definition of the assessments app, which checks it exists."""

    visit = models.ForeignKey(VisitDefinition, on_delete=models.CASCADE, related_name="instruments")
    instrument_code = models.CharField(max_length=20, validators=[code_validator])
    arm = models.ForeignKey(
        Arm, on_delete=models.CASCADE, null=True, blank=True, related_name="+", help_text="Only this arm (blank: all)."
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "instrument_code", "arm"], name="visit_instrument_unique"),
        ]

    def __str__(self) -> str:
        only = f" ({self.arm.code} arm only)" if self.arm is not None else ""
        return f"{self.visit}: {self.instrument_code}{only}"


class AnalysisOutcome(models.Model):
    """An outcome of the statistical analysis plan: an instrument's scale, analysed in every randomized
    participant or in a subgroup (the participants whose stratification factor has one level: the
    Therabot trial analyses PHQ-9 in those screened for depression, GAD-Q-IV in those screened for
    anxiety). Primary outcomes form the family that the Holm adjustment covers."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="outcomes")
    code = models.CharField(max_length=40, validators=[code_validator])
    name = models.CharField(max_length=200)
    instrument_code = models.CharField(max_length=20, validators=[code_validator])
    scale = models.CharField(max_length=40, default="total", help_text="total, or a subscale of the instrument.")
    primary = models.BooleanField(default=False)
    subgroup_factor = models.CharField(
        max_length=40, blank=True, help_text="Code of the stratification factor that defines the subgroup."
    )
    subgroup_level = models.CharField(max_length=40, blank=True, help_text="The factor's level, e.g. MDD.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="outcome_code_unique_in_trial")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if bool(self.subgroup_factor) != bool(self.subgroup_level):
            raise ValidationError("A subgroup needs both its factor and its level (or neither).")


def check_analysis_outcomes(trial: Trial) -> list[str]:
    """Design check: each outcome's subgroup names a factor and level of the trial."""
    problems = []
    levels = {
        (code, level)
        for code, level in FactorLevel.objects.filter(factor__trial=trial).values_list("factor__code", "code")
    }
    for outcome in AnalysisOutcome.objects.filter(trial=trial):
        if outcome.subgroup_factor and (outcome.subgroup_factor, outcome.subgroup_level) not in levels:
            problems.append(
                f"Outcome {outcome.code!r}: the subgroup {outcome.subgroup_factor}={outcome.subgroup_level} "
                "is not a factor level of the trial."
            )
    return problems


def check_online_wording(trial: Trial) -> list[str]:
    """Design check of a trial people join online: each screening question and the current consent document
    have participant-facing wording in each of the trial's languages."""
    problems = []
    languages = trial.languages or ["en"]
    for field in trial.screening_fields.all():
        missing = [code for code in languages if not field.participant_wording(code)]
        if missing:
            problems.append(
                f"Screening question {field.code!r} has no participant wording in {', '.join(missing)} "
                '(participant_text: {"en": {"label": ...}}); people cannot join online without it.'
            )
    document = trial.consent_documents.order_by("-published_at", "-id").first()
    if document is not None:
        missing = [code for code in languages if document.in_language(code) is None]
        if missing:
            problems.append(
                f"Consent document v{document.version} has no text in {', '.join(missing)} "
                '(translations: {"es": {"title": ..., "text": ..., "statements": [...]}}).'
            )
    return problems


# Checks that higher apps add to a trial's design (e.g. that each visit's instrument codes exist). Each
# returns the problems it finds, as sentences; trial_set_status refuses to open while there are any.
DesignCheck = Callable[["Trial"], list[str]]
design_checks: list[DesignCheck] = []


def register_design_check(check: DesignCheck) -> None:
    if check not in design_checks:
        design_checks.append(check)


class FieldKind(models.TextChoices):
    INTEGER = "integer", "Whole number"
    DECIMAL = "decimal", "Number"
    BOOLEAN = "boolean", "Yes / no"
    CHOICE = "choice", "One of a list"


class ScreeningField(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="screening_fields")
    code = models.CharField(max_length=40, validators=[code_validator])
    label = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=FieldKind.choices)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values for a choice field.")
    required = models.BooleanField(default=True)
    participant_text = models.JSONField(
        default=dict,
        blank=True,
        help_text='How the question reads to a person screening themselves online, per language: {"en": '
        '{"label": "How old are you?", "help": "...", "choices": {"MDD": "Low mood or depression"}}, "es": {...}}.',
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="screening_field_unique_in_trial")]

    def __str__(self) -> str:
        return self.label

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._refuse_if_stratum_source("changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_stratum_source("deleted")
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if self.kind == FieldKind.CHOICE and (
            not isinstance(self.choices, list) or not self.choices or not all(isinstance(c, str) for c in self.choices)
        ):
            raise ValidationError({"choices": "A choice field needs a list of text values."})

    def _refuse_if_stratum_source(self, verb: str) -> None:
        """The question a stratification factor takes its level from freezes with the design: changing
        its choices or kind would make every later screening fail or fall outside the strata."""
        trial = Trial.objects.get(pk=self.trial_id)
        if not trial.design_frozen:
            return
        codes = {self.code}
        if self.pk:
            codes |= set(ScreeningField.objects.filter(pk=self.pk).values_list("code", flat=True))
        if trial.factors.filter(code__in=codes).exists():
            raise IntegrityLocked(
                f"Trial {trial.slug} is {trial.status}: screening question {self.code!r} sets a stratification "
                f"factor and cannot be {verb}."
            )

    def participant_wording(self, language: str) -> dict[str, Any] | None:
        """``{"label", "help", "choices"}`` in ``language``, or None when the question has no label in it."""
        texts = self.participant_text if isinstance(self.participant_text, dict) else {}
        entry = texts.get(language)
        if not isinstance(entry, dict) or not str(entry.get("label") or "").strip():
            return None
        given = entry.get("choices")
        choices: dict[str, Any] = given if isinstance(given, dict) else {}
        if self.kind == FieldKind.CHOICE and any(not str(choices.get(c) or "").strip() for c in self.choices or ()):
            return None
        return {"label": str(entry["label"]), "help": str(entry.get("help") or ""), "choices": dict(choices)}

    def spec(self) -> eligibility.FieldSpec:
        return eligibility.FieldSpec(
            code=self.code, kind=self.kind, label=self.label, choices=tuple(self.choices or ()), required=self.required
        )


class EligibilityRule(models.Model):
    """What an eligible person satisfies, e.g. ``age >= 18``; ``reason`` is recorded when it fails."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="eligibility_rules")
    code = models.CharField(max_length=40, validators=[code_validator])
    field = models.CharField(max_length=40)
    operator = models.CharField(max_length=6, choices=[(op, op) for op in eligibility.OPERATORS])
    value = models.JSONField()
    reason = models.CharField(max_length=300)
    applies_if_field = models.CharField(max_length=40, blank=True)
    applies_if_values = models.JSONField(default=list, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="eligibility_rule_unique_in_trial")]

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.value}"

    def spec(self) -> eligibility.RuleSpec:
        return eligibility.RuleSpec(
            code=self.code,
            field=self.field,
            operator=self.operator,
            value=self.value,
            reason=self.reason,
            applies_if_field=self.applies_if_field,
            applies_if_values=tuple(self.applies_if_values or ()),
        )

    def clean(self) -> None:
        fields, _ = self.trial.screening_specs()
        try:
            eligibility.validate_rule(self.spec(), fields)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class ConsentDocument(models.Model):
    """One version of the consent document. Published versions never change: amend by publishing a new
    version; ``requires_reconsent`` asks every enrolled participant to consent to it again."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="consent_documents")
    version = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    text = models.TextField()
    statements = models.JSONField(
        default=list,
        blank=True,
        help_text='What a person joining online confirms, each with a checkbox: [{"code": "voluntary", "text": '
        '"I take part voluntarily ...", "required": true}, ...] (in the trial\'s first language).',
    )
    translations = models.JSONField(
        default=dict,
        blank=True,
        help_text='The document in the trial\'s other languages: {"es": {"title": ..., "text": ..., '
        '"statements": {"voluntary": "Participo voluntariamente ..."}}}.',
    )
    requires_reconsent = models.BooleanField(default=False)
    published_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["published_at", "id"]
        get_latest_by = ["published_at", "id"]
        constraints = [models.UniqueConstraint(fields=["trial", "version"], name="consent_version_unique_in_trial")]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk:
            fields = ("version", "title", "text", "statements", "translations", "requires_reconsent", "trial_id")
            stored = ConsentDocument.objects.filter(pk=self.pk).values(*fields).first()
            if stored and tuple(stored[f] for f in fields) != tuple(getattr(self, f) for f in fields):
                raise IntegrityLocked(
                    "A published consent document cannot be edited; publish a new version.", field="text"
                )
        super().save(*args, **kwargs)

    def clean(self) -> None:
        statements = self.statements if isinstance(self.statements, list) else None
        if statements is None or not all(
            isinstance(s, dict) and str(s.get("code") or "").strip() and str(s.get("text") or "").strip()
            for s in statements
        ):
            raise ValidationError({"statements": 'Each statement is {"code": ..., "text": ..., "required": true}.'})
        codes = [s["code"] for s in statements]
        if len(set(codes)) != len(codes):
            raise ValidationError({"statements": "Each statement code is used once."})
        if not isinstance(self.translations, dict):
            raise ValidationError({"translations": 'Give {"es": {"title": ..., "text": ..., "statements": {...}}}.'})

    def in_language(self, language: str) -> dict[str, Any] | None:
        """The document as a person reading ``language`` sees it: ``title``, ``text`` and ``statements`` (each
        ``code``, ``text``, ``required``), or None when it has no complete text in that language. The
        document's own fields are in the trial's first language."""
        statements = [s for s in (self.statements or []) if isinstance(s, dict)]
        first = (self.trial.languages or ["en"])[0]
        if language == first:
            title, text, wording = self.title, self.text, {s["code"]: s["text"] for s in statements}
        else:
            entry = (self.translations or {}).get(language) if isinstance(self.translations, dict) else None
            if not isinstance(entry, dict):
                return None
            title, text = str(entry.get("title") or ""), str(entry.get("text") or "")
            raw = entry.get("statements")
            given: dict[str, Any] = raw if isinstance(raw, dict) else {}
            wording = {s["code"]: str(given.get(s["code"]) or "") for s in statements}
        if not title.strip() or not text.strip() or not all(wording.values()):
            return None
        return {
            "title": title,
            "text": text,
            "statements": [
                {"code": s["code"], "text": wording[s["code"]], "required": bool(s.get("required", True))}
                for s in statements
            ],
        }
