"""Prices and Billing Item Mapping pages (invoices: billing/invoice_views.py), and the panels
billing adds to other apps' pages."""

from collections import OrderedDict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.models import WebConnector
from kaseya_modules.models import KaseyaModule
from mapping_portal.lib.decorators import permission_required
from organizations.models import Organization

from . import services
from .forms import PriceFilterForm, PriceForm
from .models import Invoice, ItemCatalog, ItemMapping, Price, PriceChange, QuickBooksItem

PERM = "billing.manage_billing"


# --- Prices ---------------------------------------------------------------------------------


def _price_rows(organization=None) -> list[dict]:
    """Every ICB-enabled module's billing types with the default price and, for `organization`,
    its own (two queries)."""
    modules = list(KaseyaModule.objects.icb_enabled().order_by("name"))
    prices = Price.objects.filter(module__in=modules)
    prices = prices.filter(organization__isnull=True) | prices.filter(organization=organization)
    found = {(p.module_id, p.billing_type, p.organization_id): p for p in prices}
    rows = []
    for module in modules:
        for item in module.billing_types or []:
            rows.append(_row(module, item, found, organization))
    return rows


def _units_of(module) -> dict[str, str]:
    return {item["code"]: item.get("name", item["code"]) for item in module.billing_types or []}


def _row(module, item, found, organization, *, editing=False, form=None) -> dict:
    own = found.get((module.pk, item["code"], organization.pk)) if organization else None
    if organization is None:
        edit_url = reverse("billing:price_edit", args=[module.code, item["code"]])
    else:
        edit_url = reverse(
            "billing:organization_price_edit", args=[module.code, item["code"], organization.pk]
        )
    default = found.get((module.pk, item["code"], None))
    if form is not None and form.is_bound:
        initial = form.data.get("amount", "")
    elif organization is not None:
        initial = own.amount.normalize() if own else ""
    else:
        initial = default.amount.normalize() if default else ""
    return {
        "edit_url": edit_url,
        "initial": initial,
        "module": module,
        "code": item["code"],
        "name": item.get("name", item["code"]),
        "unit": item.get("unit", "count"),
        "default": default,
        "own": own,
        "organization": organization,
        "editing": editing,
        "form": form,
    }


@permission_required(PERM)
@require_GET
def prices(request, organization_pk=None):
    organization = None
    if organization_pk is not None:
        organization = get_object_or_404(Organization.objects.billable(), pk=organization_pk)
    else:
        form = PriceFilterForm(request.GET)
        if form.is_valid():
            organization = form.cleaned_data["organization"]
    history = PriceChange.objects.select_related("module", "organization", "changed_by")
    if organization is not None:
        history = history.filter(organization=organization)
    overridden = (
        Organization.objects.filter(pk__in=Price.objects.values("organization_id"))
        .only("pk", "name")
        .order_by("name")[:100]
    )
    history = list(history[:50])
    for change in history:
        change.billing_type_name = _units_of(change.module).get(
            change.billing_type, change.billing_type
        )
    context = {
        "rows": _price_rows(organization),
        "organization": organization,
        "history": history,
        "overridden": overridden,
    }
    return render(request, "billing/prices.html", context)


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def price_edit(request, code, billing_type, organization_pk=None):
    """Edit one price in place: GET gives the row as a form, POST saves and gives the row back
    (without htmx: a page of its own, then back to Prices)."""
    module = get_object_or_404(KaseyaModule.objects.icb_enabled(), code=code)
    item = next((i for i in module.billing_types or [] if i["code"] == billing_type), None)
    if item is None:
        raise Http404("No such billing type.")
    organization = None
    if organization_pk is not None:
        organization = get_object_or_404(Organization.objects.billable(), pk=organization_pk)
    form = PriceForm(request.POST or None, organization=organization)
    editing = True
    if request.method == "POST" and form.is_valid():
        try:
            services.set_price(
                module, billing_type, form.cleaned_data["amount"], organization, request.user
            )
            editing = False
        except ValidationError as exc:
            form.add_error("amount", exc)
        if not editing and not request.htmx:
            messages.success(request, f"Saved the price of {module.name} {item.get('name')}.")
            back = reverse("billing:prices")
            if organization is not None:
                back = reverse("billing:organization_prices", args=[organization.pk])
            return redirect(back)
    found = {
        (p.module_id, p.billing_type, p.organization_id): p
        for p in Price.objects.filter(module=module, billing_type=billing_type)
        if p.organization_id is None or (organization and p.organization_id == organization.pk)
    }
    row = _row(module, item, found, organization, editing=editing, form=form)
    template = "billing/prices.html#price_row" if request.htmx else "billing/price_edit.html"
    return render(request, template, {"row": row, "organization": organization})


# --- Billing Item Mapping -------------------------------------------------------------------


def _item_groups(connector) -> list[tuple[str, list]]:
    """The connector's active items grouped by kind, for the selects (one query)."""
    groups = OrderedDict((label, []) for _, label in QuickBooksItem.Kind.choices)
    labels = dict(QuickBooksItem.Kind.choices)
    for item in QuickBooksItem.objects.filter(connector=connector, active=True).order_by(
        "full_name", "pk"
    ):
        groups[labels.get(item.kind, item.kind)].append(item)
    return [(label, items) for label, items in groups.items() if items]


def _mapping_rows(connector, modules=None) -> list[dict]:
    modules = modules if modules is not None else KaseyaModule.objects.icb_enabled()
    mappings = {
        (m.module_id, m.billing_type): m
        for m in ItemMapping.objects.filter(connector=connector).select_related("item")
    }
    rows = []
    for module in sorted(modules, key=lambda m: m.name):
        for item in module.billing_types or []:
            mapping = mappings.get((module.pk, item["code"]))
            rows.append(
                {
                    "module": module,
                    "code": item["code"],
                    "name": item.get("name", item["code"]),
                    "mapping": mapping,
                    # An item QuickBooks no longer lists as active holds invoices back.
                    "stale": mapping is not None and not mapping.item.active,
                }
            )
    return rows


@permission_required(PERM)
@require_GET
def item_mapping_home(request):
    """The navigation's Billing Item Mapping: the default connector's (each page links the
    others)."""
    connector = WebConnector.objects.default() or WebConnector.objects.order_by("name").first()
    if connector is None:
        return render(request, "billing/no_connector.html")
    return redirect("billing:item_mapping", pk=connector.pk)


@permission_required(PERM)
@require_GET
def item_mapping(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    catalog = ItemCatalog.objects.filter(connector=connector).first()
    context = {
        "connector": connector,
        "connectors": WebConnector.objects.order_by("name").only("pk", "name"),
        "catalog": catalog,
        "refresh_pending": bool(
            catalog
            and catalog.refresh_requested_at
            and (not catalog.refreshed_at or catalog.refresh_requested_at > catalog.refreshed_at)
        ),
        "groups": _item_groups(connector),
        "rows": _mapping_rows(connector),
    }
    return render(request, "billing/item_mapping.html", context)


@permission_required(PERM)
@require_POST
def item_map(request, pk, code, billing_type):
    """Save one row of Billing Item Mapping (htmx: the row comes back; else back to the page)."""
    connector = get_object_or_404(WebConnector, pk=pk)
    module = get_object_or_404(KaseyaModule.objects.icb_enabled(), code=code)
    raw = request.POST.get("item", "")
    item = None
    error = ""
    if raw:
        item = QuickBooksItem.objects.filter(pk=raw if raw.isdigit() else 0).first()
        if item is None:
            error = "That item no longer exists; refresh the page."
    if not error:
        try:
            services.map_item(connector, module, billing_type, item, request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Saved the item of {module.name} {billing_type}.")
        return redirect("billing:item_mapping", pk=connector.pk)
    row = next((r for r in _mapping_rows(connector, [module]) if r["code"] == billing_type), None)
    if row is None:
        raise Http404("No such billing type.")
    row["error"] = error
    row["saved"] = not error
    context = {"connector": connector, "groups": _item_groups(connector), "row": row}
    return render(request, "billing/item_mapping.html#mapping_row", context)


@permission_required(PERM)
@require_POST
def item_refresh(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    services.request_item_refresh(connector)
    messages.success(
        request,
        f"{connector.name} reads its items from QuickBooks at its next Web Connector update.",
    )
    return redirect("billing:item_mapping", pk=connector.pk)


# --- Panels on other apps' pages ------------------------------------------------------------


def organization_panel_context(request, organization):
    """The organization page: its invoices and what it is billed this month so far."""
    invoices = list(
        Invoice.objects.filter(organization=organization).select_related("connector")[:12]
    )
    lines = services.preview(organization)
    return {
        "organization": organization,
        "invoices": invoices,
        "lines": lines,
        "total": sum((line.amount for line in lines), start=0),
        "show_money": True,
    }


def mapping_panel_context(request, organization):
    """The organization's Mappings page: the billing preview. Quantities for everyone who may
    see the page; rates and amounts only for billing administrators."""
    lines = services.preview(organization)
    return {
        "organization": organization,
        "lines": lines,
        "total": sum((line.amount for line in lines), start=0),
        "show_money": request.user.has_perm(PERM),
    }
