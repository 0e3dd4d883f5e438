"""The Invoices page (a period's invoices, create, approve, retry) and an invoice's page."""

from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from connectors.models import WebConnector
from connectors.services import organizations_for
from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.paging import paginate

from . import services
from .forms import ApproveForm, PeriodForm
from .models import Invoice, InvoiceLine, InvoiceStatus, ItemMapping, held_message
from .views import PERM

PER_PAGE = 50
UNBILLED_SHOWN = 200


def _url(period) -> str:
    return f"{reverse('billing:invoices')}?period={period:%Y-%m}"


def annotate(invoices) -> None:
    """Give each invoice (lines prefetched with their module) `goes_to` — the connector it was
    sent to, else where the routing rule sends its organization now — `route_changed` (approved
    for another connector), `held_text` (items to map first, by ItemMapping.items_for and
    held_message) and `unpriced`. One query per connector, none per invoice."""
    routes = services.connectors_for(i.organization_id for i in invoices if not i.connector_id)
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


@permission_required(PERM)
@require_GET
def invoices(request):
    form = PeriodForm(request.GET)
    period = form.cleaned_data["period"] if form.is_valid() else services.last_month()
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("period", ["Bad period."])))
    listed = (
        Invoice.objects.filter(period=period)
        .select_related("organization", "connector")
        .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.select_related("module")))
        .order_by("organization__name", "pk")
    )
    page, query = paginate(request, listed, PER_PAGE, request.GET.get("page"))
    rows = list(page)
    annotate(rows)
    by_status = {
        row["status"]: row
        for row in Invoice.objects.filter(period=period)
        .values("status")
        .annotate(n=Count("pk"), total=Sum("total"))
        .order_by()
    }
    statuses = [
        {"label": label, "n": by_status[value]["n"], "total": by_status[value]["total"]}
        for value, label in InvoiceStatus.choices
        if value in by_status
    ]
    nobody = services.unbilled(period)
    context = {
        "period": period,
        "period_value": f"{period:%Y-%m}",
        "page": page,
        "query": query,
        "rows": rows,
        "statuses": statuses,
        "drafts": by_status.get(InvoiceStatus.DRAFT, {}).get("n", 0),
        "connectors": connector_totals(period),
        "nobody": nobody[:UNBILLED_SHOWN],
        "nobody_count": len(nobody),
    }
    template = "billing/invoices.html#invoices" if request.htmx else "billing/invoices.html"
    return render(request, template, context)


@permission_required(PERM)
@require_POST
def invoices_create(request):
    try:
        period = services.parse_period(request.POST.get("period", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("billing:invoices")
    summary = services.create_invoices(period, request.user)
    messages.success(request, str(summary))
    return redirect(_url(period))


@permission_required(PERM)
@require_POST
def invoices_approve(request):
    period_raw = request.POST.get("period", "")
    drafts = []
    try:
        period = services.parse_period(period_raw)
        drafts = list(
            Invoice.objects.filter(period=period, status=InvoiceStatus.DRAFT).values_list(
                "pk", flat=True
            )
        )
    except ValidationError:
        period = None
    form = ApproveForm(request.POST, drafts=drafts)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect(_url(period) if period else reverse("billing:invoices"))
    chosen = drafts if form.cleaned_data["all"] else form.cleaned_data["invoice"]
    result = services.approve(chosen, request.user)
    if result.approved:
        refs = ", ".join(invoice.ref_number for invoice in result.approved[:10])
        more = "…" if len(result.approved) > 10 else ""
        count = len(result.approved)
        messages.success(request, f"Approved {count} invoice{pluralize(count)}: {refs}{more}")
    for invoice, why in result.refused.items():
        messages.error(request, f"Not approved: {invoice.organization.name}: {why}.")
    return redirect(_url(period))


@permission_required(PERM)
@require_GET
def invoice_detail(request, pk):
    invoice = get_object_or_404(
        Invoice.objects.select_related(
            "organization", "connector", "created_by", "approved_by"
        ).prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.select_related("module")),
            "events__by",
        ),
        pk=pk,
    )
    annotate([invoice])
    return render(request, "billing/invoice.html", {"invoice": invoice})


@permission_required(PERM)
@require_POST
def invoice_retry(request, pk):
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        services.retry(invoice, request.user)
        messages.success(request, f"{invoice.ref_number} is queued for QuickBooks again.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    back_to_list = request.POST.get("next") == "list"
    return redirect(_url(invoice.period) if back_to_list else invoice_url(pk))


@permission_required(PERM)
@require_POST
def invoice_regenerate(request, pk):
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        fresh = services.regenerate(invoice, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(invoice_url(pk))
    if fresh is None:
        messages.info(request, "Nothing to bill any more: the draft was deleted.")
        return redirect(_url(invoice.period))
    messages.success(request, "Regenerated from the current usage and prices.")
    return redirect(invoice_url(fresh.pk))


@permission_required(PERM)
@require_POST
def invoice_approve(request, pk):
    invoice = get_object_or_404(Invoice, pk=pk)
    result = services.approve([invoice], request.user)
    if result.approved:
        messages.success(request, f"Approved as {result.approved[0].ref_number}.")
    for _, why in result.refused.items():
        messages.error(request, f"Not approved: {why}.")
    if not result.approved and not result.refused:
        messages.error(request, "Only a draft can be approved.")
    return redirect(invoice_url(pk))


def invoice_url(pk) -> str:
    return reverse("billing:invoice", args=[pk])
