"""The Invoices page (a period's invoices, create, approve, retry) and an invoice's page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.paging import paginate

from . import services
from .forms import ApproveForm, PeriodForm
from .invoice_reads import annotate_sending, connector_totals, status_totals
from .models import Invoice, InvoiceLine, InvoiceStatus
from .views import PERM

PER_PAGE = 50
UNBILLED_SHOWN = 200


def _url(period) -> str:
    return f"{reverse('billing:invoices')}?period={period:%Y-%m}"


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
    annotate_sending(rows)
    statuses = status_totals(period)
    nobody = services.unbilled(period)
    context = {
        "period": period,
        "period_value": f"{period:%Y-%m}",
        "page": page,
        "query": query,
        "rows": rows,
        "statuses": statuses,
        "drafts": next((row["n"] for row in statuses if row["status"] == InvoiceStatus.DRAFT), 0),
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
    annotate_sending([invoice])
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
