"""Forms behind the admin's enrollment pages. They only shape input; the services decide, and their
refusals come back as errors on these forms (``apply_domain_error``)."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from typing import Any

from django import forms

from trial.errors import DomainError
from trial.models import ConsentDocument, FactorLevel, ScreeningField, Site, Trial
from trial.models.protocol import FieldKind

YES_NO = [("yes", "Yes"), ("no", "No")]


def _yes_no(value: str) -> bool:
    return value == "yes"


class ScreeningForm(forms.Form):
    """One field per screening field of the trial, plus the screening site. Yes/no questions are a
    choice, never a checkbox, so that "no" is an answer someone gave rather than a box left empty."""

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trial = trial
        self.screening_fields = list(ScreeningField.objects.filter(trial=trial))
        sites = list(Site.objects.filter(trial=trial, active=True))
        if sites:
            choices = [(s.code, s.name) for s in sites]
            self.fields["site"] = forms.ChoiceField(
                choices=choices if len(sites) == 1 else [("", "---------"), *choices],
                initial=sites[0].code if len(sites) == 1 else None,
                label="Screening site",
            )
        level_labels = {
            (level.factor.code, level.code): level.label
            for level in FactorLevel.objects.filter(factor__trial=trial).select_related("factor")
        }
        for spec in self.screening_fields:
            self.fields[spec.code] = self._field_for(spec, level_labels)

    @staticmethod
    def _field_for(spec: ScreeningField, level_labels: dict[tuple[str, str], str]) -> forms.Field:
        common: dict[str, Any] = {"label": spec.label, "required": spec.required}
        if spec.kind == FieldKind.INTEGER:
            return forms.IntegerField(**common)
        if spec.kind == FieldKind.DECIMAL:
            return forms.DecimalField(**common)
        if spec.kind == FieldKind.BOOLEAN:
            if spec.required:
                return forms.TypedChoiceField(choices=YES_NO, coerce=_yes_no, widget=forms.RadioSelect, **common)
            return forms.TypedChoiceField(
                choices=[("", "Not answered"), *YES_NO], coerce=_yes_no, empty_value=None, **common
            )
        choices = [
            (c, f"{c} - {level_labels[(spec.code, c)]}" if (spec.code, c) in level_labels else c)
            for c in (spec.choices or [])
        ]
        return forms.ChoiceField(choices=[("", "---------"), *choices], **common)

    def answers(self) -> dict[str, object]:
        """The answers given, as the screening service takes them; unanswered optional fields left out."""
        answers: dict[str, object] = {}
        for spec in self.screening_fields:
            value = self.cleaned_data.get(spec.code)
            if value is None or value == "":
                continue
            answers[spec.code] = float(value) if isinstance(value, Decimal) else value
        return answers

    def site_code(self) -> str | None:
        return self.cleaned_data.get("site") or None


class ConsentForm(forms.Form):
    signed_name = forms.CharField(
        max_length=200, label="Signature (typed full name)", help_text="The participant's full name, as they typed it."
    )
    signed_at = forms.DateTimeField(
        required=False, label="Signed at", help_text="Leave empty for now; otherwise YYYY-MM-DD HH:MM (UTC)."
    )
    confirmed = forms.BooleanField(
        label="The participant read this version of the consent document and agreed to take part.", required=True
    )
    # The version shown: if a newer one is published meanwhile, the service refuses rather than record
    # consent to a text the participant did not see.
    version = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, document: ConsentDocument, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].initial = document.version


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ContactForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Full name")
    email = forms.EmailField(required=False, label="E-mail")
    phone = forms.CharField(
        max_length=32, required=False, label="Mobile phone", help_text="International format, e.g. +16035550100."
    )
    timezone = forms.ChoiceField(
        choices=_timezone_choices, initial="UTC", help_text="Questionnaire windows and reminders follow it."
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("email") and not cleaned.get("phone") and not self.errors:
            raise forms.ValidationError("Give an e-mail address or a phone number to send questionnaires to.")
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Reported in the CONSORT flow.")


class ConfirmForm(forms.Form):
    """A confirmation page: no fields, only the POST."""


def _screening_message(message: str) -> str:
    prefix = "stratification factor: "
    if message.startswith(prefix):
        return f"This answer decides the stratum and {message.removeprefix(prefix)}."
    return f"This answer {message}."


def apply_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal on the form, under the field it names when the form has that field."""
    errors: dict[str, str] | None = getattr(exc, "errors", None)
    if errors:
        for key, message in errors.items():
            name = key.split(".")[-1]
            if name in form.fields:
                form.add_error(name, _screening_message(message))
            else:
                form.add_error(None, f"{name}: {message}")
        return
    name = (exc.field or "").split(".")[-1]
    if name and name in form.fields and not isinstance(form.fields[name].widget, forms.HiddenInput):
        form.add_error(name, exc.message)
    else:
        form.add_error(None, exc.message)
