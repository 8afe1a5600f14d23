"""Phone numbers in E.164. Contact details stored before numbers were parsed (any 7-15 digits, with or
without +) are rewritten as E.164 when they read as a valid number, in the country of the participant's
site when they have no +. A number that does not read is left exactly as it was (never lost); the
enrollment and contact services normalize every number given from now on."""

from typing import Any

import phonenumbers
from django.db import migrations


def to_e164(apps: Any, schema_editor: Any) -> None:
    ContactDetails = apps.get_model("participants", "ContactDetails")
    rows = ContactDetails.objects.exclude(phone="").select_related("participant__site")
    for details in rows.iterator():
        raw = details.phone
        site = details.participant.site
        region = (site.country or None) if site is not None else None
        try:
            number = phonenumbers.parse(raw, None if raw.strip().startswith("+") else region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 != raw:
            ContactDetails.objects.filter(pk=details.pk).update(phone=e164)


class Migration(migrations.Migration):
    dependencies = [
        ("participants", "0008_adverse_events"),
        ("trial", "0009_trial_timezone_target_site_country"),
    ]

    operations = [migrations.RunPython(to_e164, migrations.RunPython.noop)]
