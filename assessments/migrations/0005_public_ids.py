"""Random public identifiers for visits and responses (the API's ids), back-filled for existing rows.

Responses are immutable at the database level: the trigger is dropped while the column is added and
filled, then created again (on SQLite the table is rebuilt, which drops it anyway)."""

import importlib
import uuid
from typing import Any

from django.db import migrations, models

trigger = importlib.import_module("assessments.migrations.0002_immutable_responses")


def _fill(model: Any) -> None:
    batch: list[Any] = []
    for row in model.objects.filter(public_id__isnull=True).only("pk").iterator(chunk_size=2000):
        row.public_id = uuid.uuid4()
        batch.append(row)
        if len(batch) == 2000:
            model.objects.bulk_update(batch, ["public_id"])
            batch = []
    if batch:
        model.objects.bulk_update(batch, ["public_id"])


def fill(apps: Any, schema_editor: Any) -> None:
    _fill(apps.get_model("assessments", "ScheduledAssessment"))
    _fill(apps.get_model("assessments", "Response"))


HELP = "The identifier the API shows and accepts: random, so it tells no order and leaves no gaps."


class Migration(migrations.Migration):
    dependencies = [("assessments", "0004_one_live_link_per_visit")]

    operations = [
        migrations.RunPython(trigger.backwards, trigger.forwards),
        migrations.AddField("scheduledassessment", "public_id", models.UUIDField(null=True, editable=False)),
        migrations.AddField("response", "public_id", models.UUIDField(null=True, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            "scheduledassessment",
            "public_id",
            models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text=HELP),
        ),
        migrations.AlterField(
            "response", "public_id", models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text=HELP)
        ),
        migrations.RunPython(trigger.forwards, trigger.backwards),
    ]
