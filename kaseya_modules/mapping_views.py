"""Kaseya Module Organization Mapping: the Map by Organization and Map by Module Organization
tabs, their htmx endpoints, and an organization's Mappings page (Manage Integrated Customer
Billing). Every change goes through kaseya_modules.mapping."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mapping_portal.lib.body_limit import max_body_bytes
from mapping_portal.lib.csv_io import IMPORT_BODY_BYTES, csv_download
from mapping_portal.lib.csv_views import ImportPage, import_view
from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.navigation import organization_mapping_panels, visible_panels
from mapping_portal.lib.paging import paginate
from organizations.forms import TypeaheadForm
from organizations.models import Organization
from organizations.terms import current_term

from . import mapping, mapping_bulk, mapping_csv, mapping_reads, tab_support
from .forms import (
    BulkMapForm,
    ByModuleOrganizationFilterForm,
    ByOrganizationFilterForm,
    CellForm,
    ColumnsForm,
    RowForm,
)
from .models import KaseyaModule, ModuleOrganization

PAGE_SIZE = 25
TYPEAHEAD_LIMIT = 15


@permission_required(tab_support.PERMISSION)
@require_GET
def mapping_home(request):
    return redirect("kaseya_modules:map_by_organization")


# --- Map by Organization ----------------------------------------------------------------------


def by_organization_context(request):
    modules = tab_support.enabled_modules()
    columns = mapping_reads.ordered_columns(request.user, modules)
    synced = tab_support.synced(modules)
    form = ByOrganizationFilterForm(request.GET)
    organizations = Organization.objects.billable()
    counts = mapping_reads.yet_to_be_mapped(modules)
    known_count = None
    if form.is_valid():
        status = form.cleaned_data["status"]
        if status == "unmapped":
            organizations = mapping_reads.organizations_with_unmapped_modules(synced)
            if not form.cleaned_data["q"].strip():
                known_count = counts["organizations"]
        elif status == "ignored":
            organizations = mapping_reads.organization_ignored_modules()
        organizations = organizations.search(form.cleaned_data["q"])
    organizations = organizations.only("pk", "name").order_by("name_upper", "pk")
    if known_count is not None:
        organizations = tab_support.Counted(organizations, known_count)
    page, query = paginate(request, organizations, PAGE_SIZE, request.GET.get("page"))
    ids = [org.pk for org in page]
    cells = mapping_reads.cells_for(ids, synced)
    suggested = mapping_reads.suggested_cells(ids, synced, cells)
    empty = mapping.Cell()
    rows = [
        {
            "organization": org,
            "cells": [
                (module, cells.get((org.pk, module.pk), empty), suggested.get((org.pk, module.pk)))
                for module in columns
            ],
        }
        for org in page
    ]
    return {
        "form": form,
        "page": page,
        "query": query,
        "rows": rows,
        "columns": columns,
        "modules": modules,
        "counts": counts,
        "tab": "organization",
    }


@permission_required(tab_support.PERMISSION)
@require_GET
def map_by_organization(request):
    return tab_support.render_tab(
        request, "kaseya_modules/mapping/by_organization.html", by_organization_context(request)
    )


@permission_required(tab_support.PERMISSION)
@require_POST
def map_columns(request):
    """The column chooser: move one column left or right; the order is saved for the user and
    the table comes back in the new order."""
    modules = tab_support.enabled_modules()
    form = ColumnsForm(request.POST)
    if form.is_valid():
        codes = form.cleaned_data["order"] or [
            module.code for module in mapping_reads.ordered_columns(request.user, modules)
        ]
        if form.cleaned_data["move"]:
            code, step = form.cleaned_data["move"].rsplit(":", 1)
            codes = mapping_reads.moved(codes, code, int(step))
        mapping_reads.save_column_order(request.user, codes, modules)
    if request.htmx:
        context = by_organization_context(request)
        return render(request, "kaseya_modules/mapping/by_organization.html#results", context)
    return redirect(reverse("kaseya_modules:map_by_organization") + tab_support.back_query(request))


def _cell_context(request, organization, module, *, error=None, conflict=None):
    cells = mapping_reads.cells_for([organization.pk], [module])
    suggested = mapping_reads.suggested_cells([organization.pk], [module], cells)
    return {
        "organization": organization,
        "module": module,
        "cell": cells.get((organization.pk, module.pk), mapping.Cell()),
        "suggestion": suggested.get((organization.pk, module.pk)),
        "error": error,
        "conflict": conflict,
    }


@permission_required(tab_support.PERMISSION)
@require_http_methods(["GET", "POST"])
def map_cell(request, organization_pk, code):
    """One Map by Organization cell: GET renders it, POST maps, ignores or clears it."""
    organization = get_object_or_404(
        Organization.objects.only("pk", "name", "org_type"), pk=organization_pk
    )
    module = tab_support.with_urls(get_object_or_404(KaseyaModule.objects.icb_enabled(), code=code))
    error = conflict = None
    if request.method == "POST":
        form = CellForm(request.POST)
        if not form.is_valid():
            error = tab_support.error_text(ValidationError(list(form.errors.values())))
        else:
            data = form.cleaned_data
            try:
                if data["op"] == "ignore":
                    mapping.ignore_organization_module(
                        organization, module, request.user, expected=data["expected"]
                    )
                elif data["op"] == "clear":
                    mapping.set_organization_module(
                        organization, module, None, request.user, expected=data["expected"]
                    )
                else:
                    module_org = ModuleOrganization.objects.filter(
                        pk=data["module_organization"]
                    ).first()
                    if module_org is None:
                        raise ValidationError("That module organization no longer exists.")
                    mapping.set_organization_module(
                        organization, module, module_org, request.user, expected=data["expected"]
                    )
            except mapping.MappingConflict as exc:
                conflict = tab_support.error_text(exc)
            except ValidationError as exc:
                error = tab_support.error_text(exc)
        if not request.htmx:
            if error or conflict:
                messages.error(request, error or conflict)
            return redirect(
                reverse("kaseya_modules:map_by_organization") + tab_support.back_query(request)
            )
    context = _cell_context(request, organization, module, error=error, conflict=conflict)
    html = render_to_string("kaseya_modules/mapping/_cell.html", context, request)
    if request.method == "POST":
        return tab_support.with_messages(request, html, tab_support.enabled_modules())
    return HttpResponse(html)


@permission_required(tab_support.PERMISSION)
@require_GET
def module_org_typeahead(request, code):
    """Active module organizations of one synced module whose name contains the query."""
    module = get_object_or_404(KaseyaModule.objects.synced(), code=code)
    form = TypeaheadForm(request.GET)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    results = (
        ModuleOrganization.objects.mappable()
        .filter(module=module)
        .select_related("organization")
        .only("pk", "name", "kind", "ignored", "organization__name")
        .typeahead(query, TYPEAHEAD_LIMIT)
    )
    return render(
        request,
        "kaseya_modules/mapping/_module_org_typeahead.html",
        {"results": results, "query": query, "module": module},
    )


# --- Map by Module Organization ---------------------------------------------------------------


def _module_org_rows(request, modules):
    synced = tab_support.synced(modules)
    form = ByModuleOrganizationFilterForm(request.GET, modules=synced)
    rows = ModuleOrganization.objects.filter(module__in=[m.pk for m in synced])
    organization_filter = None
    status = ""
    if form.is_valid():
        data = form.cleaned_data
        status = data["status"]
        if data["module"]:
            rows = rows.filter(module__code=data["module"])
        if data["q"].strip():
            rows = rows.filter(name__icontains=data["q"].strip())
        if data["organization"]:
            rows = rows.filter(organization_id=data["organization"])
            organization_filter = (
                Organization.objects.filter(pk=data["organization"]).only("pk", "name").first()
            )
    if status == "inactive":
        rows = rows.filter(active=False)
    else:
        rows = rows.filter(active=True)
        if status == "unmapped":
            rows = rows.filter(organization__isnull=True, ignored=False)
        elif status == "mapped":
            rows = rows.filter(organization__isnull=False)
        elif status == "ignored":
            rows = rows.filter(ignored=True)
    rows = rows.select_related("module", "parent__parent", "organization").order_by(
        "module_id", "name", "pk"
    )
    page, query = paginate(request, rows, PAGE_SIZE, request.GET.get("page"))
    mapping_reads.annotate_rows(page)
    return form, page, query, organization_filter


def _by_module_org_context(request):
    modules = tab_support.enabled_modules()
    form, page, query, organization_filter = _module_org_rows(request, modules)
    synced = tab_support.synced(modules)
    return {
        "form": form,
        "page": page,
        "query": query,
        "modules": modules,
        "organization_filter": organization_filter,
        "counts": mapping_reads.yet_to_be_mapped(modules),
        "unbilled": mapping_reads.unbilled_usage(synced),
        "tab": "module_organization",
    }


@permission_required(tab_support.PERMISSION)
@require_GET
def map_by_module_organization(request):
    return tab_support.render_tab(
        request,
        "kaseya_modules/mapping/by_module_organization.html",
        _by_module_org_context(request),
    )


@permission_required(tab_support.PERMISSION)
@require_POST
def module_org_row(request, pk):
    """One Map by Module Organization row: map, unmap, ignore or un-ignore it."""
    module_org = get_object_or_404(
        ModuleOrganization.objects.select_related("module", "parent__parent", "organization"),
        pk=pk,
    )
    form = RowForm(request.POST)
    error = conflict = None
    if not form.is_valid():
        error = tab_support.error_text(ValidationError(list(form.errors.values())))
    else:
        data, expected = form.cleaned_data, form.expected
        try:
            if data["op"] == "map":
                mapping.map_module_organization(
                    module_org, data["organization"], request.user, expected=expected
                )
            elif data["op"] == "unmap":
                mapping.unmap_module_organization(module_org, request.user, expected=expected)
            elif data["op"] == "ignore":
                mapping.ignore_module_organization(module_org, request.user, expected=expected)
            else:
                mapping.unignore_module_organization(module_org, request.user, expected=expected)
        except mapping.MappingConflict as exc:
            conflict = tab_support.error_text(exc)
        except ValidationError as exc:
            error = tab_support.error_text(exc)
    if not request.htmx:
        if error or conflict:
            messages.error(request, error or conflict)
        return redirect(
            reverse("kaseya_modules:map_by_module_organization") + tab_support.back_query(request)
        )
    module_org = ModuleOrganization.objects.select_related(
        "module", "parent__parent", "organization"
    ).get(pk=pk)
    mapping_reads.annotate_rows([module_org])
    html = render_to_string(
        "kaseya_modules/mapping/_row.html",
        {"row": module_org, "error": error, "conflict": conflict},
        request,
    )
    return tab_support.with_messages(request, html, tab_support.enabled_modules())


def _bulk_apply(request, form):
    """Apply a valid bulk form; returns the confirmation to show instead, if one is needed."""
    data = form.cleaned_data
    items = tab_support.bulk_items(request, data["ids"])
    organization = data["organization"]
    target = organization.pk if organization else None
    moving = [
        (mo, expected) for mo, expected in items if expected.organization_id not in (None, target)
    ]
    if moving and not data["confirm"]:
        return {"op": data["op"], "organization": organization, "items": items, "moving": moving}
    try:
        if data["op"] == "ignore":
            changed = mapping_bulk.bulk_ignore_module_organizations(items, request.user)
            done = "is now ignored" if changed == 1 else "are now ignored"
        else:
            changed = mapping_bulk.bulk_map_module_organizations(items, organization, request.user)
            done = ("now bills to " if changed == 1 else "now bill to ") + organization.name
    except ValidationError as exc:
        messages.error(request, tab_support.error_text(exc))
    else:
        messages.success(request, f"{changed} module organization{pluralize(changed)} {done}.")
    return None


@permission_required(tab_support.PERMISSION)
@require_POST
def module_org_bulk(request):
    """Map (or ignore) the selected rows, all or nothing. Rows that already bill to another
    organization are listed for confirmation before anything moves."""
    form = BulkMapForm(request.POST)
    confirmation = None
    if form.is_valid():
        confirmation = _bulk_apply(request, form)
    else:
        messages.error(request, tab_support.error_text(ValidationError(list(form.errors.values()))))
    if request.htmx or confirmation:
        # The filters ride along in `back`, so the list comes back as the user was seeing it.
        request.GET = request.GET.copy()
        request.GET.update(_parse_back(request))
        context = _by_module_org_context(request)
        context["bulk_confirm"] = confirmation
        if not request.htmx:
            return render(request, "kaseya_modules/mapping/by_module_organization.html", context)
        html = render_to_string(
            "kaseya_modules/mapping/by_module_organization.html#results", context, request
        )
        return tab_support.with_messages(request, html, context["modules"])
    return redirect(
        reverse("kaseya_modules:map_by_module_organization") + tab_support.back_query(request)
    )


def _parse_back(request):
    from django.http import QueryDict

    return QueryDict(request.POST.get("back", ""))


# --- An organization's Mappings page (Manage Integrated Customer Billing) ---------------------


def _mappings_rows(organization, modules):
    synced = tab_support.synced(modules)
    cells = mapping_reads.cells_for([organization.pk], synced)
    # Accept is offered only where the page can save (a Dead organization's page is read-only).
    suggested = (
        mapping_reads.suggested_cells([organization.pk], synced, cells)
        if organization.is_billable
        else {}
    )
    return [
        {
            "module": module,
            "cell": cells.get((organization.pk, module.pk), mapping.Cell()),
            "suggestion": suggested.get((organization.pk, module.pk)),
        }
        for module in modules
    ]


def _apply_row(request, organization, module):
    """Apply one Mappings page row; returns an error text or None."""
    prefix = module.code
    try:
        expected = mapping.CellState.parse(request.POST.get(f"{prefix}-expected", ""))
        ignore = request.POST.get(f"{prefix}-ignore") == "on"
        picked = mapping.CellState.parse(request.POST.get(prefix, ""))
    except ValidationError as exc:
        return tab_support.error_text(exc)
    if ignore:
        if expected.ignored:
            return None
        mapping.ignore_organization_module(organization, module, request.user, expected=expected)
        return "ignored"
    if picked.ids == expected.ids and not expected.ignored:
        return None  # untouched
    if not picked.ids:
        if expected == mapping.CellState():
            return None
        mapping.set_organization_module(organization, module, None, request.user, expected=expected)
        return "cleared"
    if len(picked.ids) > 1:
        raise ValidationError("Pick one module organization from the list.")
    module_org = ModuleOrganization.objects.filter(pk=next(iter(picked.ids))).first()
    if module_org is None:
        raise ValidationError("That module organization no longer exists.")
    mapping.set_organization_module(
        organization, module, module_org, request.user, expected=expected
    )
    return "set"


@permission_required(tab_support.PERMISSION)
@require_http_methods(["GET", "POST"])
def organization_mappings(request, pk):
    """Mappings - [Organization Name]: one row per enabled module, Save applies the changed
    rows (each through the services, each checked against the value it was rendered with)."""
    organization = get_object_or_404(Organization, pk=pk)
    modules = tab_support.enabled_modules()
    errors = {}
    if request.method == "POST" and not organization.is_billable:
        # The page is read-only for it; a hand-made POST is answered the same way.
        messages.error(request, f"{organization.name} cannot receive bills: nothing was saved.")
    elif request.method == "POST":
        changed = 0
        for module in tab_support.synced(modules):
            try:
                if _apply_row(request, organization, module):
                    changed += 1
            except ValidationError as exc:
                errors[module.pk] = tab_support.error_text(exc)
        if errors:
            messages.error(
                request,
                "Some rows were not saved; see below (each shows its current value).",
            )
        else:
            if changed:
                messages.success(request, f"Saved the mappings of {organization.name}.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("kaseya_modules:organization_mappings", pk=organization.pk)
    rows = _mappings_rows(organization, modules)
    for row in rows:
        row["error"] = errors.get(row["module"].pk)
    mapped = list(
        ModuleOrganization.objects.filter(organization=organization)
        .select_related("module", "parent")
        .order_by("module__name", "name", "pk")
    )
    usage = mapping_reads.latest_usage(mapped)
    for mo in mapped:
        mo.latest = usage.get(mo.pk, [])
    counts = mapping_reads.yet_to_be_mapped(modules)
    own_unmapped = organization.is_billable and sum(
        1
        for row in rows
        if not row["module"].waiting_for_first_sync
        and not row["cell"].ignored
        and not any(item["active"] for item in row["cell"].mapped)
    )
    return render(
        request,
        "kaseya_modules/mapping/organization.html",
        {
            "organization": organization,
            "rows": rows,
            "mapped": mapped,
            # Billing's preview of what the organization is billed, among others.
            "panels": visible_panels(organization_mapping_panels, request, organization),
            "history": mapping.history_for(organization)[:50],
            "counts": counts,
            "modules": modules,
            "own_unmapped": own_unmapped,
        },
    )


# --- Mappings as CSV ------------------------------------------------------------------------


@permission_required(tab_support.PERMISSION)
@require_GET
def mapping_export(request):
    """Every module organization of every ICB-enabled module and what it bills to, as CSV."""
    return csv_download(
        "kaseya-module-organization-mappings.csv", mapping_csv.HEADER, mapping_csv.export_rows()
    )


@max_body_bytes(IMPORT_BODY_BYTES)
@permission_required(tab_support.PERMISSION)
@require_http_methods(["GET", "POST"])
def mapping_import(request):
    term = current_term()
    page = ImportPage(
        kind="module-mappings",
        title="Import Kaseya Module Organization Mappings",
        required=mapping_csv.REQUIRED,
        header=mapping_csv.HEADER,
        planner=mapping_csv.plan,
        done_url=reverse("kaseya_modules:map_by_module_organization"),
        breadcrumbs=(("Kaseya Module Organization Mapping", reverse("kaseya_modules:mapping")),),
        explanation=f"Each row names a module organization (module code and external_id) and "
        f"the {term.lower} it bills to (autotask_id; blank for none), or ignored = yes.",
    )
    return import_view(request, page)
