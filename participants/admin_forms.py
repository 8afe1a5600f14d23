"""Showing a service's refusal on an admin form (the safety queue's pages). The enrollment forms that
were here moved to the study workspace (workspace/forms.py)."""

from __future__ import annotations

from django import forms

from trial.errors import DomainError


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
