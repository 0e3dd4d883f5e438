from django.db import migrations

# Search and typeahead match `name_upper LIKE '%Q%'` on the stored upper-case name; a trigram GIN
# index on it serves that at 100,000+ organizations. SQLite (demo) has no pg_trgm: PostgreSQL only.
CREATE = (
    "CREATE INDEX IF NOT EXISTS org_name_upper_trgm_idx ON organizations_organization "
    "USING gin (name_upper gin_trgm_ops)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS org_name_trgm_idx")
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS org_name_upper_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("organizations", "0003_name_upper")]
    operations = [migrations.RunPython(forwards, backwards)]
