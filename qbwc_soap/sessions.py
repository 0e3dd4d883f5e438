"""QBWC sessions: logging in a Web Connector, tickets, and each call's bookkeeping.

Every function here takes what QBWC sent and returns what QBWC should get back; the spyne
service only translates SOAP to these calls.
"""

import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from connectors import passwords
from connectors.models import WebConnector
from connectors.services import check_reported_company_file

from . import pipeline, qbxml, throttle
from .models import QbwcSession

logger = logging.getLogger(__name__)

NOT_VALID_USER = "nvu"
NOTHING_TO_DO = "none"
UNKNOWN_TICKET_MESSAGE = (
    "This session has expired or is unknown. Nothing was changed; the next scheduled update "
    "starts a new session."
)

# What QBWC shows in its status column after a session refused for the wrong company file.
WRONG_COMPANY_FILE_SUMMARY = "Nothing sent: QuickBooks has another company file open."
# sendRequestXML refreshes a session's last_seen_at only when it is older than this.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# What sendRequestXML writes on a session's first call: what QuickBooks reported.
FIRST_CALL_FIELDS = [
    "qbxml_version",
    "company_file_path",
    "qb_product",
    "qb_version",
    "qb_company_name",
    "last_seen_at",
]
# How much of a client-supplied user name a log line shows.
LOGGED_NAME_CHARS = 64


def shown(value: str) -> str:
    """A client-supplied name as a log line may show it: quoted, at most LOGGED_NAME_CHARS."""
    return repr(value[:LOGGED_NAME_CHARS]) + ("…" if len(value) > LOGGED_NAME_CHARS else "")


def _password_matches(connector, password: str) -> bool:
    if connector is None:
        # The same keyed-hash work for unknown user names, so timing does not reveal them.
        passwords.spend_like_a_check(password)
        return False
    return connector.check_password(password)


def new_ticket() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def authenticate(username: str | None, password: str | None, address: str = "") -> list[str]:
    """[ticket, status]: status is the company file path (or "") when there is work, "none"
    when there is nothing to send, "nvu" for a bad or throttled login or an inactive connector.
    `address` is the client's (mapping_portal.lib.client_address): failures are throttled per
    address and per (address, user name), see throttle.py."""
    username = (username or "")[:150]
    password = password or ""
    ticket = new_ticket()
    attempt = throttle.Attempt(address, username)
    if not attempt.allowed:
        logger.warning(
            "QBWC login refused for %s from %s: too many failed attempts", shown(username), address
        )
        return [ticket, NOT_VALID_USER]
    connector = WebConnector.objects.filter(username=username).first()
    if not _password_matches(connector, password) or not connector.active:
        logger.warning("QBWC login failed for user name %s from %s", shown(username), address)
        return [ticket, NOT_VALID_USER]
    attempt.succeeded()
    now = timezone.now()
    session = QbwcSession(ticket=ticket, connector=connector, started_at=now, last_seen_at=now)
    work = session.total = pipeline.begin(session)
    if not work:
        session.status = QbwcSession.Status.NOTHING
        session.ended_at = now
        session.progress = 100
        session.summary = "Nothing to send"
    session.save(force_insert=True)
    logger.info("QBWC session for %s: %d requests to send", connector.name, work)
    if not work:
        return [ticket, NOTHING_TO_DO]
    return [ticket, connector.company_file or ""]


def _load_session(ticket: str, lock=True):
    """The session for `ticket` with its connector, locked for this call (select_for_update,
    so inside receiveResponseXML's transaction) unless `lock` is false: one query."""
    sessions = QbwcSession.objects.select_related("connector")
    if lock:
        sessions = sessions.select_for_update()
    try:
        return sessions.get(ticket=ticket)
    except QbwcSession.DoesNotExist:
        return None


def _live_session(ticket: str | None, lock=True):
    """The open session for `ticket`, locked for this call (unless `lock` is false); None when
    unknown or expired (an expired one is marked so on the way). `session.seen_before` keeps the
    last_seen_at it had."""
    if not ticket:
        return None
    session = _load_session(ticket[:64], lock)
    if session is None or session.status != QbwcSession.Status.OPEN:
        return None
    if session.is_expired:
        session.status = QbwcSession.Status.EXPIRED
        session.ended_at = timezone.now()
        session.last_error = "Timed out: QBWC went silent for more than 30 minutes."
        session.save(update_fields=["status", "ended_at", "last_error"])
        return None
    session.seen_before = session.last_seen_at
    session.last_seen_at = timezone.now()
    return session


def send_request(
    ticket, hcp_response, company_file, country, major: int | None, minor: int | None
) -> str:
    """The next qbXML message for this ticket, or "" (QBWC then asks getLastError) when the
    ticket is unknown or expired.

    Reads only, outside any transaction (no lock, no commit to wait for): the requestIDs carry
    what receiveResponseXML needs (pipeline.build_request). It writes only what QuickBooks
    reported on a session's first call, and last_seen_at when it is more than
    LAST_SEEN_RESOLUTION old (receiveResponseXML refreshes it on every call anyway), so idle
    expiry works as before. On the first call QBWC reports the open company file: when it is
    not the connector's, nothing is sent and the session ends with the reason
    (connectors.services.check_reported_company_file)."""
    session = _live_session(ticket, lock=False)
    if session is None:
        return ""
    if not session.qbxml_version:
        major_v, minor_v = qbxml.agreed_version(
            major or 0, minor or 0, session.connector.qbxml_version
        )
        session.qbxml_version = f"{major_v}.{minor_v}"
        session.company_file_path = (company_file or "")[:500]
        info = qbxml.parse_hcp(hcp_response or "")
        session.qb_product = info.product
        session.qb_version = info.version
        session.qb_company_name = info.company_name
        problem = check_reported_company_file(session.connector, company_file or "")
        if problem:
            # The wrong books: send nothing; QBWC asks getLastError, which says why, and ends.
            session.status = QbwcSession.Status.ERROR
            session.last_error = problem
            session.ended_at = session.last_seen_at
            session.summary = WRONG_COMPANY_FILE_SUMMARY
            written = ["status", "last_error", "ended_at", "summary"]
            session.save(update_fields=[*FIRST_CALL_FIELDS, *written])
            logger.warning("QBWC session for %s refused: wrong company file", session.connector)
            return ""
        session.save(update_fields=FIRST_CALL_FIELDS)
    elif session.seen_before < session.last_seen_at - LAST_SEEN_RESOLUTION:
        session.save(update_fields=["last_seen_at"])
    return pipeline.build_request(session)


def _fail(session, text: str) -> int:
    session.status = QbwcSession.Status.ERROR
    session.last_error = text
    session.ended_at = timezone.now()
    session.save()
    return -1


@transaction.atomic
def receive_response(ticket, response, hresult, message) -> int:
    """Apply QuickBooks' answer; progress 0–99, 100 when done, negative on failure (QBWC then
    asks getLastError).

    The response is parsed before the session is locked, so the lock is held only for the
    database work."""
    failed = (hresult or "").strip() or ((message or "").strip() and not (response or "").strip())
    responses, unreadable = None, None
    if not failed:
        try:
            responses = qbxml.parse_response(response or "")
        except qbxml.QbxmlError as exc:
            unreadable = exc
    session = _live_session(ticket)
    if session is None:
        return -1
    if failed:
        logger.warning(
            "QuickBooks failed for %s: %s %s",
            session.connector.name,
            shown(hresult or ""),
            shown(message or ""),
        )
        return _fail(
            session, f"QuickBooks could not process the request ({hresult or 'no code'}): {message}"
        )
    if unreadable is not None:
        return _fail(session, f"Could not read QuickBooks' response: {unreadable}")
    try:
        return pipeline.apply_responses(session, responses)
    except qbxml.QbxmlError as exc:
        return _fail(session, f"Could not read QuickBooks' response: {exc}")


@transaction.atomic
def last_error(ticket) -> str:
    session = QbwcSession.objects.filter(ticket=(ticket or "")[:64]).first()
    if session is None or session.status == QbwcSession.Status.EXPIRED:
        return UNKNOWN_TICKET_MESSAGE
    if session.status == QbwcSession.Status.OPEN and session.is_expired:
        _live_session(ticket)
        return UNKNOWN_TICKET_MESSAGE
    return session.last_error or "No error."


@transaction.atomic
def connection_error(ticket, hresult, message) -> str:
    """QBWC could not open QuickBooks or the company file: record it and stop."""
    session = _live_session(ticket)
    if session is not None:
        _fail(session, f"QBWC could not connect to QuickBooks ({hresult or 'no code'}): {message}")
    return "done"


@transaction.atomic
def close_connection(ticket) -> str:
    """End the session and return the summary QBWC shows in its status column."""
    session = _live_session(ticket)
    if session is None:
        existing = QbwcSession.objects.filter(ticket=(ticket or "")[:64]).first()
        if existing is None or existing.status == QbwcSession.Status.EXPIRED:
            return "Session ended."
        if not existing.summary:
            existing.summary = pipeline.summary(existing)
            existing.save(update_fields=["summary"])
        return existing.summary
    session.summary = pipeline.summary(session)
    session.status = QbwcSession.Status.DONE
    session.ended_at = timezone.now()
    session.save()
    return session.summary
