"""Item queries: the connector's company file's items (service, non-inventory, other-charge),
read at the start of a conversation when they are due (qbwc_soap.items.due: never read, an
admin asked for a refresh, or the last read is old), so billing types can be mapped to them and
invoices find their items' ListIDs. A thin adapter over qbwc_soap.items.

State in `kind_state["i"]`: `left`, the item kinds not asked yet in this session, and `asked_at`,
when the session decided to read them (a refresh an admin asks for after that stays pending).
Each item kind is asked once per session: one that fails stays due for the next conversation.

requestID item: the item kind ("service", "noninventory", "othercharge"). Flags: one letter per
item kind asked (ITEM_FLAGS), so a query QuickBooks left unanswered is not asked again.
"""

from datetime import datetime

from django.utils import timezone

from .. import items
from ..pipeline import Batch, Request, RequestKind, plural

# One flag letter per item kind asked in a message.
ITEM_FLAGS = {"service": "s", "noninventory": "n", "othercharge": "o"}
_FLAG_KINDS = {flag: kind for kind, flag in ITEM_FLAGS.items()}


def _query(kind):
    return Request(kind, lambda builder, rid: builder.item_query(rid, kind))


class ItemQueries(RequestKind):
    code = "i"
    name = "items"

    def begin(self, session) -> int:
        """One request per item kind when the connector's items are due (one query)."""
        if not items.due(session.connector):
            return 0
        self.state(session).update(
            left=list(items.KINDS), answered=[], asked_at=timezone.now().isoformat()
        )
        return len(items.KINDS)

    def finished(self, session) -> bool:
        return not session.kind_state.get(self.code, {}).get("left")

    def requests(self, session, room: int) -> Batch:
        """No query: the item kinds left, as many as there is room for."""
        asked = self.state(session)["left"][:room]
        return Batch([_query(kind) for kind in asked], "".join(ITEM_FLAGS[k] for k in asked))

    def apply(self, session, answers, flags) -> None:
        """Statements (when anything answered): those of qbwc_soap.items.apply, at most three."""
        state = self.state(session)
        asked = {_FLAG_KINDS[flag] for flag in flags if flag in _FLAG_KINDS}
        state["left"] = [kind for kind in state.get("left", []) if kind not in asked]
        responses = {a.item: a.response for a in answers if a.item in asked}
        if not responses:
            return
        answered_before = state.get("answered", [])
        asked_at = state.get("asked_at")
        items.apply(
            session.connector,
            responses,
            timezone.now(),
            answered_before,
            asked_at=datetime.fromisoformat(asked_at) if asked_at else None,
        )
        read = [k for k, rs in responses.items() if rs.status_code == 0 or rs.no_match]
        state["answered"] = [*answered_before, *read]
        failed = len(responses) - len(read)
        self.count(session, "read", len(read))
        session.processed += len(responses)
        session.errors += failed

    def summary(self, session) -> list[str]:
        read = self.counted(session, "read")
        return [plural(read, "item list read", "item lists read")] if read else []
