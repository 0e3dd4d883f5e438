"""What the Invoices page and an invoice's page show beside the invoices themselves: where each
goes and what holds it back, and the period's totals per status and per company file."""

from collections import defaultdict

from django.db.models import Count, Sum

from connectors.models import WebConnector
from connectors.services import connectors_for, organizations_for

from .models import Invoice, InvoiceStatus, ItemMapping, held_message


def annotate_sending(invoices) -> None:
    """Give each invoice (lines prefetched with their module) `goes_to` — the connector it was
    sent to, else where the routing rule sends its organization now — `route_changed` (approved
    for another connector), `held_text` (items to map first, by ItemMapping.items_for and
    held_message) and `unpriced`. One query per connector, none per invoice."""
    routes = connectors_for(i.organization_id for i in invoices if not i.connector_id)
    waiting = defaultdict(list)
    for invoice in invoices:
        lines = list(invoice.lines.all())
        invoice.unpriced = [line for line in lines if line.unpriced]
        invoice.goes_to = (
            invoice.connector if invoice.connector_id else routes.get(invoice.organization_id)
        )
        invoice.route_changed = bool(
            not invoice.connector_id
            and invoice.approved_connector_name
            and invoice.goes_to is not None
            and invoice.goes_to.name != invoice.approved_connector_name
        )
        invoice.held_text = ""
        if invoice.goes_to is not None and invoice.status in (
            InvoiceStatus.DRAFT,
            InvoiceStatus.APPROVED,
        ):
            waiting[invoice.goes_to].append((invoice, lines))
    for connector, group in waiting.items():
        found, _ = ItemMapping.objects.items_for(connector, [ln for _, ls in group for ln in ls])
        for invoice, lines in group:
            missing = [ln for ln in lines if (ln.module_id, ln.billing_type) not in found]
            invoice.held_text = held_message(connector, missing)


def connector_totals(period) -> list[dict]:
    """The period's invoices per connector: sent ones where they were sent, the others where
    their organization goes now (one query per connector, plus one)."""
    invoices = Invoice.objects.filter(period=period).order_by()
    sent = {
        row["connector_id"]: row
        for row in invoices.filter(connector__isnull=False)
        .values("connector_id")
        .annotate(n=Count("pk"), total=Sum("total"))
    }
    rows = []
    for connector in WebConnector.objects.order_by("name"):
        unsent = invoices.filter(
            connector__isnull=True, organization__in=organizations_for(connector)
        ).aggregate(n=Count("pk"), total=Sum("total"))
        done = sent.get(connector.pk, {"n": 0, "total": 0})
        count = (unsent["n"] or 0) + done["n"]
        if count:
            total = (unsent["total"] or 0) + (done["total"] or 0)
            rows.append({"connector": connector, "count": count, "total": total})
    return rows


def status_totals(period) -> list[dict]:
    """The period's invoices per status, in the statuses' order (one query)."""
    by_status = {
        row["status"]: row
        for row in Invoice.objects.filter(period=period)
        .values("status")
        .annotate(n=Count("pk"), total=Sum("total"))
        .order_by()
    }
    return [
        {"status": value, "label": label, "n": row["n"], "total": row["total"]}
        for value, label in InvoiceStatus.choices
        if (row := by_status.get(value))
    ]
