"""What spyne may write to the log: bounded lines, never a request body.

spyne logs whole input documents in places (`%r in string %r` on an XML syntax error, documents
at DEBUG) and full tracebacks of client faults whose text can quote what the client sent. The
endpoint faces the internet, so a request body (a password, a ticket) must never reach a log and
no client can make a log line as long as its request. A filter on every spyne logger drops the
loggers meant for raw documents and bounds the rest; qbwc_soap's own lines name a client only
through `sessions.shown`.
"""

import logging

from spyne.model.fault import Fault

# Longest message (and, separately, traceback) a spyne record keeps.
MESSAGE_CHARS = 500
TRACEBACK_CHARS = 1500


def bounded(text: str, limit: int = MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"


class SpyneRecords(logging.Filter):
    """Drops records that carry whole documents; bounds every other spyne record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.endswith(".invalid") or record.levelno < logging.INFO:
            # ".invalid" loggers exist to dump malformed documents; DEBUG dumps valid ones.
            return False
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format
            message = str(record.msg)
        record.msg, record.args = bounded(message), None
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Fault) and str(exc.faultcode or "").startswith("Client"):
            # A client's mistake: its code and text say all; the traceback is spyne's own.
            record.exc_info, record.exc_text = None, None
        elif record.exc_info:
            # Our own failures keep their traceback, its innermost end (where it failed).
            text = logging.Formatter().formatException(record.exc_info)
            if len(text) > TRACEBACK_CHARS:
                text = "…" + text[-TRACEBACK_CHARS:]
            record.exc_text = text
        record.stack_info = None
        return True


_filter = SpyneRecords()


def install() -> None:
    """Put the filter on every spyne logger (a logger's filters see only its own records, so
    each one gets it). Called once the spyne modules the endpoint uses are imported."""
    import spyne.server.django  # noqa: F401 — its loggers must exist before they are filtered

    for name in list(logging.root.manager.loggerDict):
        if name == "spyne" or name.startswith("spyne."):
            logger = logging.getLogger(name)
            if _filter not in logger.filters:
                logger.addFilter(_filter)
