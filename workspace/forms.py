"""Forms of the workspace's screening, consent, enrollment and randomization pages.

They shape input only; the participant services decide, and a refusal comes back as an error on the form
(``apply_domain_error``), under the field it names. Every form carries a one-time key (``once``), so that a
repeated submission is recognised (workspace.submissions).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS

from participants.models import ContactChannels
from trial import eligibility
from trial.errors import DomainError
from trial.models import ConsentDocument, FactorLevel, ScreeningField, Site, Trial
from trial.models.protocol import FieldKind
from workspace import zones

YES_NO = [("yes", "Yes"), ("no", "No")]
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


def _yes_no(value: str) -> bool:
    return value == "yes"


class OnceForm(forms.Form):
    """A form with a one-time key, made when the form is shown and sent back with it."""

    once = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "This form is out of date: reload the page and submit it again.",
            "invalid": "This form is out of date: reload the page and submit it again.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["once"].initial = uuid.uuid4()

    def key(self) -> uuid.UUID:
        key: uuid.UUID = self.cleaned_data["once"]
        return key

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(field id or "", label, message) for every error, for the summary at the top of the page."""
        summary: list[tuple[str, str, str]] = []
        for name, errors in self.errors.items():
            field = self.fields.get(name)
            for message in errors:
                if name == NON_FIELD_ERRORS or field is None or isinstance(field.widget, forms.HiddenInput):
                    summary.append(("", "", str(message)))
                else:
                    bound = self[name]
                    target = bound.id_for_label or f"{bound.auto_id}_0"  # a radio group: its first option
                    summary.append((target, str(field.label), str(message)))
        return summary


class ScreeningForm(OnceForm):
    """One field per screening field of the trial, plus the screening site. Yes/no questions are a choice,
    never a checkbox, so that "no" is an answer someone gave rather than a box left empty."""

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trial = trial
        self.screening_fields = list(ScreeningField.objects.filter(trial=trial))
        sites = list(Site.objects.filter(trial=trial, active=True).order_by("name"))
        if sites:
            choices = [(s.code, s.name) for s in sites]
            self.fields["site"] = forms.ChoiceField(
                choices=choices if len(sites) == 1 else [("", "Choose the site"), *choices],
                initial=sites[0].code if len(sites) == 1 else None,
                label="Screening site",
            )
        if len(trial.languages or []) > 1:
            names = dict(settings.LANGUAGES)
            self.fields["language"] = forms.ChoiceField(
                choices=[(code, names.get(code, code)) for code in trial.languages],
                initial=trial.languages[0],
                required=False,  # left out (a script's form post): the trial's first language
                label="Language the person chose",
                help_text="Their questionnaire pages and every message they get will be in this language.",
            )
        level_labels = {
            (level.factor.code, level.code): level.label
            for level in FactorLevel.objects.filter(factor__trial=trial).select_related("factor")
        }
        for spec in self.screening_fields:
            self.fields[spec.code] = self._field_for(spec, level_labels)

    @staticmethod
    def _field_for(spec: ScreeningField, level_labels: dict[tuple[str, str], str]) -> forms.Field:
        common: dict[str, Any] = {"label": spec.label or spec.code, "required": spec.required}
        if not spec.required:
            common["help_text"] = "Needed when an eligibility rule applies to this person."
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
        return forms.ChoiceField(choices=[("", "Choose"), *choices], **common)

    def clean(self) -> dict[str, Any]:
        """Ask, along with the other errors, for a blank value an eligibility rule needs (the screening
        service refuses it too; this only saves a second round)."""
        cleaned = super().clean() or {}
        _, rules = self.trial.screening_specs()
        needed = eligibility.missing_for_rules(rules, self.answers())
        for code, message in needed.items():
            if code in self.fields and code not in self.errors:
                self.add_error(code, _screening_message(message))
        return cleaned

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

    def language(self) -> str:
        return str(self.cleaned_data.get("language") or "")


class ConsentForm(OnceForm):
    """Consent to the document shown. The signing time is entered in the trial's zone (the view activates
    it, so Django reads and shows the local time in that zone) and defaults to now."""

    signed_name = forms.CharField(
        max_length=200, label="Signature (typed full name)", help_text="The participant's full name, as they typed it."
    )
    signed_at = forms.DateTimeField(
        label="Signed at",
        input_formats=[LOCAL_MINUTE, "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_MINUTE),
    )
    confirmed = forms.BooleanField(
        label="The participant read this version of the consent document and agreed to take part.", required=True
    )
    # The version shown: if a newer one is published meanwhile, the service refuses rather than record
    # consent to a text the participant did not see.
    version = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, document: ConsentDocument, zone: ZoneInfo, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].initial = document.version
        local_now = now.astimezone(zone)
        self.fields["signed_at"].initial = local_now.replace(second=0, microsecond=0)
        self.fields["signed_at"].label = f"Signed at ({zone.key} time)"
        self.fields[
            "signed_at"
        ].help_text = f"Date and time in {zone.key} ({local_now.tzname()}), the trial's time zone. Defaults to now."
        self.fields["signed_at"].widget.attrs["max"] = local_now.strftime(LOCAL_MINUTE)


class ContactForm(OnceForm):
    full_name = forms.CharField(max_length=200, label="Full name")
    email = forms.EmailField(required=False, label="E-mail")
    phone = forms.CharField(max_length=40, required=False, label="Mobile phone")
    timezone = forms.ChoiceField(label="Time zone", help_text="Questionnaire windows and reminders follow it.")
    channels = forms.ChoiceField(
        required=False,
        label="Invitations and reminders by",
        widget=forms.RadioSelect,
        choices=[("", "E-mail if given, otherwise SMS"), *ContactChannels.choices],
        help_text="As the participant chose. SMS stops if they reply STOP, until they reply START.",
    )

    def __init__(self, *args: Any, country: str | None, trial_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        first = zones.country_zones(country)
        choices = zones.zone_choices(country)
        zone_field = self.fields["timezone"]
        assert isinstance(zone_field, forms.ChoiceField)
        if first:
            zone_field.choices = [
                (f"Zones in {country}", choices[: len(first)]),
                ("All other zones", choices[len(first) :]),
            ]
        else:
            zone_field.choices = choices
        self.fields["timezone"].initial = zones.default_zone(country, trial_zone)
        self.fields["phone"].help_text = _phone_help(country)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("email") and not cleaned.get("phone") and not self.errors:
            raise forms.ValidationError("Give an e-mail address or a phone number to send questionnaires to.")
        channels = cleaned.get("channels") or ""
        if channels in (ContactChannels.EMAIL, ContactChannels.BOTH) and not cleaned.get("email") and not self.errors:
            self.add_error("email", "Messages by e-mail need an e-mail address.")
        if (
            channels in (ContactChannels.SMS, ContactChannels.BOTH)
            and not cleaned.get("phone")
            and "phone" not in self.errors
        ):
            self.add_error("phone", "Messages by SMS need a mobile phone number.")
        return cleaned

    def contact(self) -> dict[str, str]:
        names = ("full_name", "email", "phone", "timezone", "channels")
        return {name: self.cleaned_data.get(name) or "" for name in names}


def _phone_help(country: str | None) -> str:
    if not country:
        return "With + and the country code, e.g. +16035550100 (this site has no country)."
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    shown = f", e.g. {phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)}" if example else ""
    return f"As dialled in {country}{shown}, or with + and the country code. Stored in international format."


class ConfirmForm(OnceForm):
    """A confirmation: no fields but the one-time key."""


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
