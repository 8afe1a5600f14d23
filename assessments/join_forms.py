"""The forms of the join pages: screening questions built from the trial's screening fields (in the
person's language), the consent statements and typed name, contact details. Eligibility itself is decided
by the same engine staff use (participants.services.enrollment.screening_assess)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trial.models import Trial
from trial.models.protocol import FieldKind

YES_NO = [("yes", _("Yes")), ("no", _("No"))]


class Honeypot(forms.Form):
    """A field people never see (hidden by the style sheet) that form-filling robots fill in."""

    website = forms.CharField(required=False, label=_("Leave this field empty"))

    def is_robot(self) -> bool:
        return bool(self.data.get("website", "").strip())


class ScreeningForm(Honeypot):
    def __init__(self, *args: Any, trial: Trial, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds: dict[str, str] = {}
        for field in trial.screening_fields.all():
            wording = field.participant_wording(language)
            if wording is None:
                raise LookupError(f"Screening question {field.code!r} has no wording in {language!r}.")
            options = {"required": False, "label": wording["label"], "help_text": wording["help"]}
            formfield: forms.Field
            if field.kind == FieldKind.INTEGER:
                formfield = forms.IntegerField(**options, min_value=0, max_value=100000)
            elif field.kind == FieldKind.DECIMAL:
                formfield = forms.DecimalField(**options, min_value=Decimal(0), max_digits=9, decimal_places=3)
            elif field.kind == FieldKind.BOOLEAN:
                formfield = forms.ChoiceField(**options, choices=YES_NO, widget=forms.RadioSelect)
            else:
                choices = [(c, wording["choices"][c]) for c in field.choices]
                formfield = forms.ChoiceField(**options, choices=choices, widget=forms.RadioSelect)
            formfield.error_messages.update(
                {
                    "invalid": _("Please give a number."),
                    "invalid_choice": _("Please choose one of the answers."),
                    "min_value": _("Please give a number of zero or more."),
                    "max_value": _("Please check this number."),
                }
            )
            self.fields[field.code] = formfield
            self.kinds[field.code] = field.kind
        self.order_fields([*self.kinds, "website"])

    def answers(self) -> dict[str, object]:
        """The answers given, as the screening engine takes them (unanswered questions left out)."""
        answers: dict[str, object] = {}
        for code, kind in self.kinds.items():
            value = self.cleaned_data.get(code)
            if value in (None, ""):
                continue
            if kind == FieldKind.BOOLEAN:
                answers[code] = value == "yes"
            elif kind == FieldKind.DECIMAL:
                answers[code] = str(value)
            else:
                answers[code] = value
        return answers

    def add_engine_errors(self, errors: Mapping[str, str]) -> None:
        """The engine's findings (``answers.<code>``: what is wrong) as the person's language says them."""
        for key, message in errors.items():
            code = key.removeprefix("answers.")
            if code not in self.fields:
                self.add_error(None, _("Some answers could not be accepted. Please check them."))
            elif "required" in message:
                self.add_error(code, _("Please answer this question."))
            else:
                self.add_error(code, _("Please check this answer."))

    def questions(self) -> list[forms.BoundField]:
        return [self[code] for code in self.kinds]


class ConsentForm(Honeypot):
    signed_name = forms.CharField(max_length=200, required=False, label=_("Your full name"))

    def __init__(self, *args: Any, statements: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements = statements
        for statement in statements:
            self.fields[f"statement_{statement['code']}"] = forms.BooleanField(required=False, label=statement["text"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for statement in self.statements:
            name = f"statement_{statement['code']}"
            if statement["required"] and not data.get(name):
                self.add_error(name, _("Please confirm this statement to take part."))
        if not " ".join(str(data.get("signed_name") or "").split()):
            self.add_error("signed_name", _("Please type your full name to sign."))
        return data

    def answers(self) -> dict[str, bool]:
        return {s["code"]: bool(self.cleaned_data.get(f"statement_{s['code']}")) for s in self.statements}

    def statement_fields(self) -> list[forms.BoundField]:
        return [self[f"statement_{s['code']}"] for s in self.statements]


class ContactForm(Honeypot):
    email = forms.EmailField(
        label=_("E-mail address"),
        error_messages={
            "required": _("Please give your e-mail address."),
            "invalid": _("Please check this e-mail address."),
        },
    )
    phone = forms.CharField(
        required=False,
        max_length=32,
        label=_("Mobile phone number (optional)"),
        help_text=_("For text-message reminders, if you would like them."),
    )
    timezone = forms.ChoiceField(label=_("Your time zone"))

    def __init__(self, *args: Any, zones: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone_field = self.fields["timezone"]
        assert isinstance(zone_field, forms.ChoiceField)
        zone_field.choices = [(zone, zone.replace("_", " ")) for zone in zones]
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["phone"].widget.attrs["autocomplete"] = "tel"
        self.fields["phone"].widget.input_type = "tel"
