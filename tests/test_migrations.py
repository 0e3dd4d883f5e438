"""Every model change has its migration (CI runs this on PostgreSQL)."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exit_:
        raise AssertionError("a model change has no migration: run makemigrations") from exit_
