"""Invoices from draft to approved, and back to approved after QuickBooks refused one
(re-exported by billing.services: import them from there).

An approved invoice never changes: a period run again only adds what is new, as a supplementary
draft holding what goes beyond the organization's approved invoices. Decreases are never
credited automatically.
"""

from dataclasses import dataclass, field, replace
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.template.defaultfilters import pluralize
from django.utils import timezone

from connectors.services import connectors_for

from .models import Invoice, InvoiceEvent, InvoiceLine, InvoiceNumber, InvoiceStatus
from .services import bills_for, parse_period

REF_LENGTH = 11  # QuickBooks' RefNumber


@dataclass
class RunSummary:
    """What one `create_invoices` run did."""

    period: date
    created: int = 0
    regenerated: int = 0
    deleted: int = 0  # drafts with nothing to bill any more
    supplementary: int = 0  # new drafts beyond approved invoices
    unchanged_approved: int = 0  # organizations whose approved invoices already bill everything
    approved: int = 0
    refused: list = field(default_factory=list)  # ["MP…/organization: why"] when approving

    def __str__(self):
        text = (
            f"Invoices for {self.period:%B %Y}: {self.created} draft{pluralize(self.created)} "
            f"created, {self.regenerated} regenerated, {self.deleted} deleted (nothing to bill), "
            f"{self.supplementary} supplementary draft{pluralize(self.supplementary)} for usage "
            f"beyond approved invoices, {self.unchanged_approved} "
            f"organization{pluralize(self.unchanged_approved)} already fully invoiced."
        )
        if self.approved or self.refused:
            text += f" Approved {self.approved}."
        return text


@dataclass
class Approval:
    approved: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)  # invoice → why


def _already_billed(period, organization_ids) -> dict[tuple, tuple]:
    """{(organization, module, billing type): (quantity, [ref numbers])} on the approved (or
    later) invoices of `period`."""
    if not organization_ids:
        return {}
    rows = (
        InvoiceLine.objects.filter(
            invoice__period=period, invoice__organization_id__in=list(organization_ids)
        )
        .exclude(invoice__status=InvoiceStatus.DRAFT)
        .values("invoice__organization_id", "module_id", "billing_type", "invoice__ref_number")
        .annotate(quantity=Sum("quantity"))
        .order_by("invoice__ref_number")
    )
    billed = {}
    for row in rows:
        key = (row["invoice__organization_id"], row["module_id"], row["billing_type"])
        quantity, refs = billed.get(key, (0, []))
        billed[key] = (quantity + row["quantity"], [*refs, row["invoice__ref_number"]])
    return billed


def _beyond(organization_id, lines, billed) -> list:
    """The part of `lines` not yet on the organization's approved invoices: new lines, and the
    increase of a quantity already billed."""
    extra = []
    for line in lines:
        quantity, refs = billed.get((organization_id, line.module_id, line.billing_type), (0, []))
        more = line.quantity - quantity
        if more <= 0:
            continue
        note = f"beyond {quantity.normalize():f} on {', '.join(refs)}" if quantity else ""
        extra.append(replace(line, quantity=more, note=note))
    return extra


def create_invoices(period, user=None, approve=False, organization_ids=None) -> RunSummary:
    """Make the period's drafts from `bills_for`: one per organization with something to bill,
    regenerating existing drafts (a draft with nothing to bill any more is deleted); for an
    organization with approved invoices, a draft with only what goes beyond them. `approve`:
    approve every draft of the period afterwards. `organization_ids`: only these."""
    period = parse_period(period)
    summary = RunSummary(period)
    with transaction.atomic():
        existing = Invoice.objects.select_for_update().filter(period=period).order_by("pk")
        if organization_ids is not None:
            existing = existing.filter(organization_id__in=organization_ids)
        drafts, locked = {}, set()
        for invoice in existing:
            if invoice.status == InvoiceStatus.DRAFT:
                drafts[invoice.organization_id] = invoice
            else:
                locked.add(invoice.organization_id)
        bills = bills_for(period, organization_ids)
        billed = _already_billed(period, locked)
        plans = {}
        for organization_id in set(bills) | set(drafts) | locked:
            lines = bills.get(organization_id, [])
            if organization_id in locked:
                lines = _beyond(organization_id, lines, billed)
            plans[organization_id] = lines
        summary.unchanged_approved = sum(1 for pk in locked if not plans[pk])
        _write(period, plans, drafts, locked, user, summary)
    if approve:
        drafts = Invoice.objects.filter(period=period, status=InvoiceStatus.DRAFT)
        if organization_ids is not None:
            drafts = drafts.filter(organization_id__in=organization_ids)
        result = approve_invoices(list(drafts.values_list("pk", flat=True)), user)
        summary.approved = len(result.approved)
        summary.refused = [
            f"{invoice.organization}: {why}" for invoice, why in result.refused.items()
        ]
    return summary


def _write(period, plans, drafts, locked, user, summary) -> None:
    now = timezone.now()
    InvoiceLine.objects.filter(invoice__in=[draft.pk for draft in drafts.values()]).delete()
    gone = [draft.pk for pk, draft in drafts.items() if not plans[pk]]
    if gone:
        summary.deleted = len(gone)
        Invoice.objects.filter(pk__in=gone).delete()
    created, updated = [], []
    for organization_id, lines in sorted(plans.items()):
        if not lines:
            continue
        total = sum((line.amount for line in lines), start=0)
        invoice = drafts.get(organization_id)
        if invoice is None:
            invoice = Invoice(
                organization_id=organization_id,
                period=period,
                total=total,
                created_at=now,
                created_by=user,
                supplementary=organization_id in locked,
            )
            created.append(invoice)
            if invoice.supplementary:
                summary.supplementary += 1
            else:
                summary.created += 1
        else:
            invoice.total = total
            updated.append(invoice)
            summary.regenerated += 1
        invoice.bill_lines = lines
    Invoice.objects.bulk_create(created, batch_size=1000)
    Invoice.objects.bulk_update(updated, ["total"], batch_size=1000)
    regenerated = {invoice.pk for invoice in updated}  # a set: thousands of drafts, no list scans
    Action = InvoiceEvent.Action
    rows, events = [], []
    for invoice in created + updated:
        for position, line in enumerate(invoice.bill_lines, start=1):
            rows.append(
                InvoiceLine(
                    invoice_id=invoice.pk,
                    position=position,
                    module_id=line.module_id,
                    billing_type=line.billing_type,
                    billing_type_name=line.billing_type_name,
                    quantity=line.quantity,
                    rate=line.rate,
                    amount=line.amount,
                    description=line.description,
                    unpriced=line.unpriced,
                )
            )
        action = Action.REGENERATED if invoice.pk in regenerated else Action.CREATED
        events.append(InvoiceEvent(invoice_id=invoice.pk, action=action, at=now, by=user))
    InvoiceLine.objects.bulk_create(rows, batch_size=2000)
    InvoiceEvent.objects.bulk_create(events, batch_size=2000)


def regenerate(invoice, user=None) -> Invoice | None:
    """Make a draft again from the current usage and prices (None: nothing to bill any more,
    so the draft was deleted)."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationError("Only a draft can be regenerated: an approved invoice never changes.")
    create_invoices(invoice.period, user, organization_ids=[invoice.organization_id])
    return Invoice.objects.filter(
        organization_id=invoice.organization_id, period=invoice.period, status=InvoiceStatus.DRAFT
    ).first()


def _next_numbers(count: int) -> list[str]:
    prefix = settings.INVOICE_REF_PREFIX
    width = REF_LENGTH - len(prefix)
    counter, _ = InvoiceNumber.objects.select_for_update().get_or_create(prefix=prefix)
    first = counter.last + 1
    counter.last += count
    if len(str(counter.last)) > width:
        raise ValidationError(
            f"Invoice numbers with the prefix {prefix!r} are used up: change INVOICE_REF_PREFIX."
        )
    counter.save(update_fields=["last"])
    return [f"{prefix}{number:0{width}d}" for number in range(first, counter.last + 1)]


def approve_invoices(invoices, user=None) -> Approval:
    """Approve the drafts among `invoices` (instances or pks): each gets its RefNumber and is
    locked. A draft with a line that has no price is refused until a price is set and the draft
    regenerated (an explicit price of 0 is fine)."""
    ids = [getattr(invoice, "pk", invoice) for invoice in invoices]
    result = Approval()
    with transaction.atomic():
        drafts = list(
            Invoice.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, status=InvoiceStatus.DRAFT)
            .select_related("organization")
            .order_by("organization__name", "pk")
        )
        unpriced = {}
        for line in InvoiceLine.objects.filter(invoice__in=drafts, unpriced=True).select_related(
            "module"
        ):
            unpriced.setdefault(line.invoice_id, []).append(
                f"{line.module.name} {line.billing_type_name}"
            )
        ready = []
        for draft in drafts:
            if draft.pk in unpriced:
                names = ", ".join(sorted(unpriced[draft.pk]))
                result.refused[draft] = f"no price for {names}: set one, then regenerate"
            else:
                ready.append(draft)
        if not ready:
            return result
        routes = connectors_for(draft.organization_id for draft in ready)
        now = timezone.now()
        for draft, ref in zip(ready, _next_numbers(len(ready)), strict=True):
            connector = routes.get(draft.organization_id)
            draft.status = InvoiceStatus.APPROVED
            draft.ref_number = ref
            draft.approved_at, draft.approved_by = now, user
            draft.approved_connector_name = connector.name if connector else ""
        fields = ["status", "ref_number", "approved_at", "approved_by", "approved_connector_name"]
        Invoice.objects.bulk_update(ready, fields, batch_size=1000)
        InvoiceEvent.objects.bulk_create(
            [
                InvoiceEvent(
                    invoice=draft,
                    action=InvoiceEvent.Action.APPROVED,
                    note=f"{draft.ref_number}, for {draft.approved_connector_name or 'nowhere'}",
                    at=now,
                    by=user,
                )
                for draft in ready
            ]
        )
        result.approved = ready
    return result


def retry(invoice, user=None) -> Invoice:
    """Queue an invoice QuickBooks refused again: back to approved, its error and connector
    cleared (QuickBooks refused it, so it is in no company file; it goes where its organization
    goes at the next send)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.FAILED:
            raise ValidationError("Only an invoice QuickBooks refused can be retried.")
        note = f"QuickBooks said {invoice.error_code}: {invoice.error}"[:1000]
        invoice.status = InvoiceStatus.APPROVED
        invoice.error_code, invoice.error, invoice.held = None, "", ""
        invoice.connector = None
        invoice.save(update_fields=["status", "error_code", "error", "held", "connector"])
        InvoiceEvent.objects.create(
            invoice=invoice, action=InvoiceEvent.Action.RETRIED, note=note, by=user
        )
    return invoice
