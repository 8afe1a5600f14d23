"""Database triggers that refuse changes to allocations and audit events, whatever issues the SQL.

PostgreSQL refuses UPDATE and DELETE. SQLite refuses UPDATE; a DELETE trigger would also stop Django's
test-database flush (SQLite flushes with DELETE, PostgreSQL with TRUNCATE, which row triggers do not
see), so on SQLite deletes are refused by the models only.
"""

from typing import Any

from django.db import migrations

TABLES = ("participants_allocation", "trial_auditevent")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_immutable_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are never changed or deleted (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_immutable_change();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'rows of {table} are never changed'); END;"
            )


def backwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table};")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable;")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS refuse_immutable_change();")


class Migration(migrations.Migration):
    dependencies = [
        ("participants", "0001_initial"),
        ("trial", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
