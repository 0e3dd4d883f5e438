from django.db import migrations

# Typeahead and search use `UPPER(name) LIKE UPPER('%q%')` (Django's icontains on PostgreSQL);
# a trigram GIN index on that same expression serves it at 100,000+ organizations. SQLite (demo)
# has no pg_trgm, so this only runs on PostgreSQL.
CREATE = (
    "CREATE INDEX IF NOT EXISTS org_name_trgm_idx ON organizations_organization "
    'USING gin (UPPER("name") gin_trgm_ops)'
)
DROP = "DROP INDEX IF EXISTS org_name_trgm_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("organizations", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
