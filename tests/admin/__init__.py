"""Helpers for the admin tests: staff logins and the data an admin change page would post back."""

from __future__ import annotations

from typing import Any

from django.test import Client


def login(client: Client, user: Any) -> Client:
    """The conftest personas are not staff; the admin needs them to be."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    return client


def _post_value(bound_field: Any) -> Any:
    value = bound_field.value()
    if value is None or value is False:
        return None
    if value is True:
        return "on"
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def change_form_data(response: Any) -> dict[str, Any]:
    """What the browser would submit from an admin change page, unchanged: the main form, every inline's
    management form and rows."""
    forms: list[Any] = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    data: dict[str, Any] = {}
    for form in forms:
        for name in form.fields:
            value = _post_value(form[name])
            if value is not None:
                data[form.add_prefix(name)] = value
    return data
