"""The questionnaire form: one radio group per item, built from the instrument definition.

The form only checks that each answer is one of the item's options and that required items are answered;
scoring, flags and the visit's state stay with ``assessments.services.submission``. Values travel as the
option's value written out (``"0"`` ... ``"3"``) and come back as the definition's own numbers, never
parsed floats, so what is stored is exactly the option chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext as _

from assessments.instruments import Instrument, Item, WordingNotInstalled


def question_number(instrument: Instrument, key: str) -> str:
    """The number a participant sees: ``phq9_3`` -> "3", ``gadq4_7_2`` -> "7.2" (as on the paper form)."""
    return key.removeprefix(f"{instrument.code}_").replace("_", ".")


def item_required(instrument: Instrument, item: Item) -> bool:
    """Whether the page insists on an answer.

    Unscored items (PHQ-9 item 10) may be skipped. Scored items are required, except where the definition
    counts a missing item as 0 (a skip pattern, as on the GAD-Q-IV): there only the items the scale cannot
    do without are. Items a flag watches (PHQ-9 item 9) are always required: a skipped safety item must be
    a participant's explicit choice on paper, never an accident on a phone.
    """
    if any(rule.item == item.key for rule in instrument.flags):
        return True
    if not item.scored:
        return False
    rule = instrument.total.missing
    if rule.method == "zero":
        return item.key in rule.required
    return True


def _value_key(value: Any) -> str:
    return str(value)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    input_id: str
    checked: bool


@dataclass(frozen=True)
class Question:
    """One item as the template shows it: a fieldset with a legend and a radio per option."""

    key: str
    number: str
    text: str
    required: bool
    choices: tuple[Choice, ...]
    error: str

    @property
    def first_input_id(self) -> str:
        return self.choices[0].input_id

    @property
    def error_id(self) -> str:
        return f"{self.key}-error"


class QuestionnaireForm(forms.Form):
    """Answers to one instrument. ``require_answers=False`` (saving a draft) accepts a partial page."""

    def __init__(
        self,
        *args: Any,
        instrument: Instrument,
        require_answers: bool = True,
        language: str | None = None,
        staff: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        # The wording shown (questions()) is in this language; checking answers needs only the values.
        self.language = language or instrument.language
        # Staff pages (answers entered from paper) may show a marked placeholder; participant pages never.
        self.staff = staff
        for item in instrument.items:
            number = question_number(instrument, item.key)
            self.fields[item.key] = forms.ChoiceField(
                choices=[(_value_key(option.value), option.label) for option in item.options],
                required=require_answers and item_required(instrument, item),
                widget=forms.RadioSelect,
                error_messages={
                    "required": _("Please answer question %(number)s.") % {"number": number},
                    "invalid_choice": _("Please choose one of the answers to question %(number)s.")
                    % {"number": number},
                },
            )

    @classmethod
    def initial_from(cls, answers: dict[str, Any]) -> dict[str, str]:
        """Form initial data from stored answers (a draft): numbers as the form writes them."""
        return {key: _value_key(value) for key, value in answers.items() if value is not None}

    def answers(self) -> dict[str, int | float]:
        """The cleaned answers as the definition's numbers; unanswered items are left out."""
        chosen: dict[str, int | float] = {}
        for item in self.instrument.items:
            raw = self.cleaned_data.get(item.key)
            if not raw:
                continue
            for option in item.options:
                if _value_key(option.value) == raw:
                    chosen[item.key] = option.value
        return chosen

    def answers_given(self) -> dict[str, int | float]:
        """The answers sent that are one of their item's options, whatever the rest of the page holds (a
        question left out, another answer not an option): what a page that is not recorded still says."""
        given: dict[str, int | float] = {}
        for item in self.instrument.items:
            raw = self.data.get(item.key)
            for option in item.options:
                if _value_key(option.value) == raw:
                    given[item.key] = option.value
        return given

    def _text(self, key: str) -> str:
        if self.staff:
            return self.instrument.staff_item_text(key, self.language)
        return self.instrument.item_text(key, self.language)

    def _label(self, key: str, value: int | float) -> str:
        try:
            return self.instrument.option_label(key, value, self.language)
        except WordingNotInstalled:
            if not self.staff:
                raise
            return self.instrument.option_label(key, value)  # the definition's own (neutral) label

    def questions(self) -> list[Question]:
        """The items as the page shows them, in the form's language. Raises ``WordingNotInstalled`` when
        any of it is missing there: the caller shows an apology, never a placeholder."""
        questions = []
        for item in self.instrument.items:
            bound = self[item.key]
            current = bound.value()
            current = "" if current is None else str(current)
            errors = self.errors.get(item.key) if self.is_bound else None
            questions.append(
                Question(
                    key=item.key,
                    number=question_number(self.instrument, item.key),
                    text=self._text(item.key),
                    required=item_required(self.instrument, item),
                    choices=tuple(
                        Choice(
                            value=_value_key(option.value),
                            label=self._label(item.key, option.value),
                            input_id=f"{item.key}-{index}",
                            checked=_value_key(option.value) == current,
                        )
                        for index, option in enumerate(item.options)
                    ),
                    error=str(errors[0]) if errors else "",
                )
            )
        return questions
