"""Signals other apps listen to, so this lower app never imports them."""

from django.db import transaction
from django.dispatch import Signal

# Sent once after a batch of organizations was created, renamed, retyped or deleted (a CSV
# import, an admin save) — never per row — once the change is committed.
organizations_changed = Signal()


def announce_organizations_changed(sender) -> None:
    """Send `organizations_changed` when the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: organizations_changed.send(sender=sender))
