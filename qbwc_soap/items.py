"""The item request kind: what items a connector's company file has, read during a QBWC
conversation (service, non-inventory and other-charge items: what a billed service can be
invoiced as), so admins can map billing types to them.

The pipeline asks `due(connector)`, puts `add_requests` into a message and hands the three
answers to `apply`. Items are never deleted: one QuickBooks no longer lists becomes inactive, so
mappings and sent invoices keep their reference.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import ItemCatalog, QuickBooksItem

from . import qbxml

# The kinds asked for, in order; keys of qbxml.ITEM_KINDS and values of QuickBooksItem.Kind.
KINDS = tuple(qbxml.ITEM_KINDS)

_ITEM_FIELDS = ["full_name", "kind", "active", "description", "seen_at"]
_FULL_NAME_MAX = QuickBooksItem._meta.get_field("full_name").max_length
_DESCRIPTION_MAX = QuickBooksItem._meta.get_field("description").max_length


def due(connector, now=None) -> bool:
    """Whether this conversation should read the connector's items: never read, an admin asked
    for a fresh read, or the last read is older than QBWC_ITEM_REFRESH_HOURS. One query."""
    now = now or timezone.now()
    catalog = ItemCatalog.objects.filter(connector=connector).first()
    if catalog is None or catalog.refreshed_at is None or catalog.refresh_requested_at:
        return True
    return catalog.refreshed_at <= now - timedelta(hours=settings.QBWC_ITEM_REFRESH_HOURS)


def add_requests(builder: qbxml.RequestBuilder, request_id_for) -> None:
    """Add the three item queries; `request_id_for(kind)` gives each its requestID (the pipeline
    decodes it back to the kind before calling `apply`)."""
    for kind in KINDS:
        builder.item_query(request_id_for(kind), kind)


def apply(connector, responses, now=None, answered_before=(), asked_at=None) -> dict:
    """Store QuickBooks' answers to the item queries: `responses` maps a kind to its
    qbxml.Response (a kind may be missing). Items listed are inserted or updated by
    (connector, ListID); the connector's items of a kind that answered (status 0, or 1: none of
    that kind) but not listed become inactive. When every kind answered, the catalog is marked
    refreshed and a pending refresh request is cleared; a kind that failed leaves it due, so the
    next conversation asks again (`answered_before`: the kinds that answered in an earlier
    message of the same conversation). A refresh requested after `asked_at` (when the queries
    were decided on) stays pending: the lists read may predate what the admin wanted to see.
    Returns {"listed": n, "deactivated": n, "refreshed": bool}.

    Statements: one upsert (per 1,000 items), one UPDATE marking the unlisted inactive, one
    upsert of the catalog row and one UPDATE clearing the request — whatever the number of
    items."""
    now = now or timezone.now()
    answered = []
    rows = {}
    for kind, rs in dict(responses).items():
        if kind not in qbxml.ITEM_KINDS or rs is None:
            continue
        if rs.status_code == 0 or rs.no_match:
            answered.append(kind)
        elif not rs.ok:
            continue
        for ret in rs.rets:
            if isinstance(ret, qbxml.ItemRet) and ret.list_id:
                rows[ret.list_id] = QuickBooksItem(
                    connector=connector,
                    list_id=ret.list_id,
                    full_name=ret.full_name[:_FULL_NAME_MAX],
                    kind=ret.kind,
                    active=ret.active,
                    description=ret.description[:_DESCRIPTION_MAX],
                    seen_at=now,
                )
    refreshed = set(answered) | set(answered_before) == set(KINDS)
    with transaction.atomic():
        if rows:
            QuickBooksItem.objects.bulk_create(
                list(rows.values()),
                batch_size=1000,
                update_conflicts=True,
                unique_fields=["connector", "list_id"],
                update_fields=_ITEM_FIELDS,
            )
        deactivated = 0
        if answered:
            # Everything listed now carries seen_at=now, so "not seen now" is "not listed".
            deactivated = (
                QuickBooksItem.objects.filter(connector=connector, kind__in=answered, active=True)
                .exclude(seen_at=now)
                .update(active=False)
            )
        if refreshed:
            ItemCatalog.objects.bulk_create(
                [ItemCatalog(connector=connector, refreshed_at=now)],
                update_conflicts=True,
                unique_fields=["connector"],
                update_fields=["refreshed_at"],
            )
            ItemCatalog.objects.filter(
                connector=connector, refresh_requested_at__lte=asked_at or now
            ).update(refresh_requested_at=None)
    return {"listed": len(rows), "deactivated": deactivated, "refreshed": refreshed}
