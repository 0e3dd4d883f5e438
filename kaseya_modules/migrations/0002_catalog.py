from django.db import migrations

from kaseya_modules.catalog import add_missing_modules


def load_catalog(apps, schema_editor):
    add_missing_modules(
        apps.get_model("kaseya_modules", "KaseyaModule"), schema_editor.connection.alias
    )


class Migration(migrations.Migration):
    dependencies = [("kaseya_modules", "0001_initial")]
    operations = [migrations.RunPython(load_catalog, migrations.RunPython.noop)]
