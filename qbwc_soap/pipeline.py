"""The QBWC conversation as one small pipeline of request kinds: item queries, customers,
invoices.

A request kind (a RequestKind subclass, one module under qbwc_soap/kinds/) knows one sort of
qbXML request: how much work it has for a session (`begin`, at authenticate: its share of
`total`), whether it is finished for the session (`finished`, from the session's own state, no
query), the next requests (`requests`, reads only), how QuickBooks' answers to them are applied
(`apply`, inside receiveResponseXML's transaction) and its part of the closing summary. It plugs
in by being listed in KINDS below.

KINDS is the dependency order. sendRequestXML fills one message of at most `batch_size()`
requests by asking the kinds in that order, each for at most the room left; a kind that is
finished is skipped, and a kind with `after_earlier = True` (invoices need their customer's
ListID) is asked only once every earlier kind is finished for the session — that is, once their
answers have been applied, not merely sent. When no kind has anything, the message is a harmless
HostQuery (an empty one would make QBWC report an error).

receiveResponseXML locks the session, hands each kind asked for the message its own answers
(`apply`, one transaction), counts a request left unanswered as an error of the session, and
saves the session. Session-wide: total, processed, errors, progress (100 only when every kind is
finished). Per kind: its own QbwcSession columns (customers: added, updated, linked, and its scan
position), or `counts[name]` and `kind_state[code]` (JSON) for a kind without columns.

sendRequestXML keeps no conversation state: what receiveResponseXML needs travels in each
requestID, which QuickBooks echoes back unchanged (PROTOCOL.md §5). One kind writes there all the
same: invoices (qbwc_soap.kinds.invoices) hold back what cannot go and claim what they send
(status sent) before the message leaves, because QBWC may lose the answer after QuickBooks
created the invoice, and an invoice must never be sent twice. sendRequestXML runs outside any
transaction (sessions.send_request), so each such write commits on its own before the SOAP
answer is returned; build_request must stay outside any transaction for that reason. If the
message is never answered, those invoices stay sent and are looked up by RefNumber at the next
conversation. RequestIDs have this shape:

    <code>.<item>.<header>.<mac>

- code: the kind's one letter (`h` is the HostQuery no-op);
- item: the kind's own text for the request, without "." (customers: organization, operation,
  fingerprint prefix);
- header: the same for every request of the message: for each kind asked, in order and joined
  by "-", its code, how many requests it put in the message and its own flag letters (customers:
  `d` the scan is over after this message, `w` more follow-ups wait than it holds), e.g. `c25d`;
- mac: keyed BLAKE2b (from SECRET_KEY) over the ticket, the session's `round_trips` and the rest,
  so an answer applies only to the session and the message it was sent in: a replayed or forged
  answer is refused (counting an applied answer moves `round_trips` on).
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.module_loading import import_string

from . import qbxml

# The request kinds, in dependency order.
KINDS = [
    "qbwc_soap.kinds.items.ItemQueries",
    "qbwc_soap.kinds.customers.Customers",
    "qbwc_soap.kinds.invoices.Invoices",
]

DEFAULT_BATCH_SIZE = 25
NOOP_CODE = "h"
_NOOP_ITEM = "noop"
_MAC_CHARS = 16


def batch_size() -> int:
    """The most requests one qbXML message holds (settings.QBWC_BATCH_SIZE)."""
    return max(1, int(getattr(settings, "QBWC_BATCH_SIZE", DEFAULT_BATCH_SIZE)))


@dataclass(slots=True)
class Request:
    """One request a kind wants sent: its part of the requestID and how to write it."""

    item: str
    # add(builder, request_id) writes the request into the message.
    add: Callable[[qbxml.RequestBuilder, str], None]


@dataclass(slots=True)
class Batch:
    """What a kind puts in one message: its requests and its flag letters (a-z) for after it."""

    requests: list[Request] = field(default_factory=list)
    flags: str = ""


@dataclass(slots=True)
class Answer:
    """QuickBooks' answer to one of a kind's requests: the request's item and the …Rs."""

    item: str
    response: qbxml.Response


class RequestKind:
    """One kind of qbXML request in the pipeline. Subclasses set `code` and `name` and override
    the methods; the defaults describe a kind with nothing to do."""

    code = ""  # one lower-case letter, unique among the kinds (not "h")
    name = ""  # plural noun, the key of its counts in QbwcSession.counts ("invoices")
    after_earlier = False  # asked only once every earlier kind is finished for the session
    # QbwcSession columns of its own that `apply` changes (saved with the session).
    session_fields: tuple[str, ...] = ()

    def begin(self, session) -> int:
        """At authenticate: how many requests' worth of work the session has for this kind (its
        share of `total`, for progress). May set the kind's starting state on `session`; the
        caller saves it."""
        return 0

    def finished(self, session) -> bool:
        """Whether nothing is left for this kind in `session`, from the session's fields alone
        (no query)."""
        return True

    def requests(self, session, room: int) -> Batch:
        """Reads only: at most `room` requests for the session's next message."""
        return Batch()

    def apply(self, session, answers: list[Answer], flags: str) -> None:
        """Apply QuickBooks' answers to this kind's requests of the last message, inside
        receiveResponseXML's transaction (lock what it changes), and update the session's state
        and counters (saved by the caller). Called for every kind asked for that message, with
        `flags` as its Batch said, even when no answer is its own (then it makes no query).
        Raises qbxml.QbxmlError for an answer it cannot read."""

    def summary(self, session) -> list[str]:
        """Its parts of the text QBWC shows when the session closes ("3 invoices sent");
        errors are counted for the whole session by the pipeline."""
        return []

    # Helpers for kinds whose counts and progress have no column of their own.

    def count(self, session, word: str, n: int = 1) -> None:
        counts = session.counts.setdefault(self.name, {})
        counts[word] = counts.get(word, 0) + n

    def counted(self, session, word: str) -> int:
        return session.counts.get(self.name, {}).get(word, 0)

    def state(self, session) -> dict:
        """This kind's own JSON state in the session (QbwcSession.kind_state[code])."""
        return session.kind_state.setdefault(self.code, {})


class _Registry:
    """The kinds KINDS lists, made once (again only when KINDS changes)."""

    def __init__(self, paths: tuple[str, ...]):
        self.paths = paths
        self.kinds = tuple(import_string(path)() for path in paths)
        codes = [kind.code for kind in self.kinds]
        if len(set(codes)) != len(codes) or NOOP_CODE in codes:
            raise ImproperlyConfigured(f"QBWC request kinds need codes of their own: {codes}")
        self.by_code = {kind.code: kind for kind in self.kinds}
        own = [name for kind in self.kinds for name in kind.session_fields]
        # The session fields receiveResponseXML writes.
        self.receive_fields = list(dict.fromkeys([*_RECEIVE_FIELDS, *own]))


_registry = None


def registry() -> _Registry:
    global _registry
    if _registry is None or _registry.paths != tuple(KINDS):
        _registry = _Registry(tuple(KINDS))
    return _registry


def kinds() -> tuple[RequestKind, ...]:
    """The request kinds, in dependency order."""
    return registry().kinds


# --- requestIDs ------------------------------------------------------------------------------

_mac_keys: dict = {}


def _mac_key() -> bytes:
    """The requestID MAC key, derived from SECRET_KEY."""
    secret = settings.SECRET_KEY
    key = _mac_keys.get(secret)
    if key is None:
        key = hashlib.sha256(("qbwc-request-id:" + secret).encode()).digest()
        _mac_keys.clear()
        _mac_keys[secret] = key
    return key


def _mac(key: bytes, session, body: str) -> str:
    """Keyed BLAKE2b (a MAC by construction) over the ticket, the round trip and `body`."""
    message = f"{session.ticket}|{session.round_trips}|{body}".encode()
    return hashlib.blake2b(message, key=key, digest_size=_MAC_CHARS // 2).hexdigest()


def _request_id(key, session, code: str, item: str, header: str) -> str:
    body = f"{code}.{item}.{header}"
    return f"{body}.{_mac(key, session, body)}"


def _header(asked) -> str:
    return "-".join(f"{kind.code}{len(batch.requests)}{batch.flags}" for kind, batch in asked)


def _parse_header(header: str) -> list[tuple[RequestKind, int, str]] | None:
    """[(kind, requests sent, flags)] from a header, or None when it names an unknown kind."""
    out = []
    for entry in header.split("-") if header else ():
        digits = entry[1:].rstrip("abcdefghijklmnopqrstuvwxyz")
        kind = registry().by_code.get(entry[:1])
        if kind is None or not digits.isdigit():
            return None
        out.append((kind, int(digits), entry[1 + len(digits) :]))
    return out


# --- sendRequestXML --------------------------------------------------------------------------


def build_request(session) -> str:
    """The next qbXML message for `session`, filled by the kinds in dependency order. Reads only
    (see the module docstring); never empty."""
    version = tuple(int(p) for p in (session.qbxml_version or "13.0").split("."))
    builder = qbxml.RequestBuilder(version)
    size = room = batch_size()
    asked = []  # (kind, Batch)
    all_finished = True  # every kind so far
    for kind in kinds():
        if room <= 0:
            break
        if kind.finished(session):
            continue
        if kind.after_earlier and not all_finished:
            all_finished = False
            continue
        all_finished = False
        batch = kind.requests(session, room)
        asked.append((kind, batch))
        room -= len(batch.requests)
    header = _header(asked)
    key = _mac_key()
    if room == size:
        builder.host_query(_request_id(key, session, NOOP_CODE, _NOOP_ITEM, header))
        return builder.tostring()
    for kind, batch in asked:
        for request in batch.requests:
            request.add(builder, _request_id(key, session, kind.code, request.item, header))
    return builder.tostring()


# --- receiveResponseXML ----------------------------------------------------------------------


def apply_responses(session, responses: list) -> int:
    """Apply QuickBooks' parsed answers to the requests `session` sent in its last message;
    returns progress 0–100. Raises qbxml.QbxmlError, with nothing applied, when the response
    answers none of them (so a message is never sent over and over to a QuickBooks that answers
    nothing)."""
    key = _mac_key()
    header = None
    answers: dict[str, list[Answer]] = {}
    seen = set()
    for rs in responses:
        rid = rs.request_id or ""
        body, _, mac = rid.rpartition(".")
        if rid in seen or not body or not hmac.compare_digest(mac, _mac(key, session, body)):
            continue
        parts = body.split(".")
        if len(parts) != 3 or (header is not None and parts[2] != header):
            continue
        code, item, header = parts
        seen.add(rid)
        if code != NOOP_CODE:
            answers.setdefault(code, []).append(Answer(item, rs))
    sent = _parse_header(header) if header is not None else None
    if sent is None:
        raise qbxml.QbxmlError("it answers none of the requests sent")
    return _apply(session, sent, answers)


@transaction.atomic(savepoint=False)
def _apply(session, sent, answers) -> int:
    for kind, count, flags in sent:
        mine = answers.get(kind.code, [])
        missing = count - len(mine)
        if missing > 0:
            # With continueOnError QuickBooks answers every request; a missing answer means the
            # request was not processed: an error for this run, retried next time.
            session.errors += missing
            session.processed += missing
        kind.apply(session, mine, flags)
    session.round_trips += 1
    session.progress = progress(session)
    session.save(update_fields=registry().receive_fields)
    return session.progress


# The session fields receiveResponseXML writes, besides the kinds' session_fields.
_RECEIVE_FIELDS = [
    "round_trips",
    "progress",
    "processed",
    "errors",
    "counts",
    "kind_state",
    "last_seen_at",
]


# --- a session's start, progress and end ------------------------------------------------------


def begin(session) -> int:
    """At authenticate: the session's work over every kind (its `total`)."""
    return sum(kind.begin(session) for kind in kinds())


def progress(session) -> int:
    """0–99 while anything is left for this session, 100 only when every kind is finished."""
    if all(kind.finished(session) for kind in kinds()):
        return 100
    total = max(session.total, 1)
    return min(99, session.processed * 100 // total)


def plural(n: int, word: str, words: str) -> str:
    return f"{n} {word if n == 1 else words}"


def summary(session) -> str:
    """What QBWC shows when the session closes: "12 customers added, 3 updated, 1 error"."""
    parts = [part for kind in kinds() for part in kind.summary(session)]
    parts.append(plural(session.errors, "error", "errors"))
    return ", ".join(parts)
