"""What every sync that reads and compares tens of thousands of rows shares: reading the stored
rows on a second connection while the fetch runs, and pausing the cyclic garbage collector while
building many small objects."""

import gc
import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

from django.db import connection, connections

log = logging.getLogger(__name__)


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while building (or comparing) hundreds of thousands of
    tuples and dicts: none of them form cycles, yet each batch of allocations would otherwise set
    off a collection that walks every one of them again. Reference counting still frees memory."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def can_overlap() -> bool:
    """Read the stored rows on a second connection during the fetch? Only on PostgreSQL, and only
    outside a transaction: inside one, another connection would not see its uncommitted rows
    (and SQLite's in-memory test databases are not shared between connections at all)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


class BackgroundRead:
    """`read(*args)` in a thread with its own database connection (closed when it is done), so a
    sync reads what is stored while its fetch waits on the network. A failed read is logged and
    leaves `result()` None: the caller then reads inside its own transaction, as it would anyway
    whenever what was read no longer fits."""

    def __init__(self, read: Callable, *args, name: str = "background-read"):
        self.read, self.args = read, args
        self.value = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.value = self.read(*self.args)
        except Exception:
            log.exception("Reading the stored rows alongside the fetch failed (%s)", self.read)
        finally:
            connections.close_all()  # this thread's connections only

    def join(self) -> None:
        self.thread.join()

    def result(self):
        return self.value
