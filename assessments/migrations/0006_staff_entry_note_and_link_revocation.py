"""Who entered answers for a participant and why (Response.entry_note), and links staff took away
(AccessLink.revoked_at).

Responses are immutable at the database level: on SQLite adding a column rebuilds the table, which drops
the trigger, so it is dropped first and created again after (as in 0005)."""

import importlib

from django.db import migrations, models

trigger = importlib.import_module("assessments.migrations.0002_immutable_responses")


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0005_public_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesslink",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(trigger.backwards, trigger.forwards),
        migrations.AddField(
            model_name="response",
            name="entry_note",
            field=models.TextField(
                blank=True,
                help_text="Why staff entered the answers for the participant (e.g. paper form returned by post).",
            ),
        ),
        migrations.RunPython(trigger.forwards, trigger.backwards),
    ]
