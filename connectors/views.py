from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from mapping_portal.lib.body_limit import max_body_bytes
from mapping_portal.lib.csv_io import IMPORT_BODY_BYTES, csv_download
from mapping_portal.lib.csv_views import ImportPage, import_view
from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.navigation import connector_links
from mapping_portal.lib.paging import paginate
from organizations.models import Organization
from organizations.terms import current_term

from . import mapping_csv, services
from .forms import MappingFilterForm, MappingForm, WebConnectorForm
from .models import MappingChange, OrganizationConnectorMapping, WebConnector
from .qwc import InsecureSiteURL, build_qwc, qbwc_url

PERM = "connectors.configure_quickbooks"


# --- Web connectors -------------------------------------------------------------------------


@permission_required(PERM)
@require_GET
def connector_list(request):
    connectors = list(WebConnector.objects.all())
    counts = services.routed_counts()
    for connector in connectors:
        connector.routed = counts.get(connector.pk, 0)
    return render(request, "connectors/list.html", {"connectors": connectors})


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def connector_add(request):
    form = WebConnectorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        connector, raw = services.create_connector(form, request.user)
        return _password_page(request, connector, raw, created=True)
    return render(request, "connectors/form.html", {"form": form, "connector": None})


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def connector_edit(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    form = WebConnectorForm(request.POST or None, instance=connector)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Saved {connector.name}.")
        return redirect("connectors:detail", pk=connector.pk)
    return render(request, "connectors/form.html", {"form": form, "connector": connector})


@permission_required(PERM)
@require_GET
def connector_detail(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    routed = services.organizations_for(connector)
    links = [
        {"label": link.label, "url": link.url(connector.pk)}
        for link in connector_links.for_user(request.user)
    ]
    try:
        app_url = qbwc_url(settings.SITE_URL)
        url_problem = None
    except InsecureSiteURL as exc:
        app_url, url_problem = None, str(exc)
    return render(
        request,
        "connectors/detail.html",
        {
            "connector": connector,
            "routed_count": routed.count(),
            "routed_sample": routed.only("pk", "name")[:20],
            "links": links,
            "app_url": app_url,
            "url_problem": url_problem,
        },
    )


@permission_required(PERM)
@require_POST
def connector_reset_password(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    raw = services.reset_connector_password(connector)
    return _password_page(request, connector, raw, created=False)


def _password_page(request, connector, raw, *, created):
    """The one time a connector's password is shown: never cached by the browser or a proxy."""
    response = render(
        request,
        "connectors/password.html",
        {"connector": connector, "password": raw, "created": created},
    )
    add_never_cache_headers(response)
    return response


@permission_required(PERM)
@require_GET
def connector_qwc(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    try:
        body = build_qwc(connector, settings.SITE_URL)
    except InsecureSiteURL as exc:
        messages.error(request, str(exc))
        return redirect("connectors:detail", pk=connector.pk)
    response = HttpResponse(body, content_type="application/xml; charset=utf-8")
    filename = slugify(connector.name) or f"connector-{connector.pk}"
    response["Content-Disposition"] = f'attachment; filename="{filename}.qwc"'
    return response


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def connector_make_default(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    if connector.is_default:
        messages.info(request, f"{connector.name} is already the default web connector.")
        return redirect("connectors:detail", pk=connector.pk)
    if request.method == "POST":
        try:
            moved = services.make_default(connector, request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("connectors:detail", pk=connector.pk)
        term = current_term(request)
        messages.success(
            request,
            f"{connector.name} is now the default web connector; {moved} "
            f"{term.lower if moved == 1 else term.lower_plural} moved to it.",
        )
        return redirect("connectors:list")
    preview = services.default_change_preview(connector)
    return render(
        request, "connectors/make_default.html", {"connector": connector, "preview": preview}
    )


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def connector_accept_company_file(request, pk):
    """GET: what accepting the company file QuickBooks reported would do; POST: accept it."""
    connector = get_object_or_404(WebConnector, pk=pk)
    if not connector.pending_company_file:
        messages.info(request, f"QuickBooks has not reported another company file for {connector}.")
        return redirect("connectors:detail", pk=connector.pk)
    if request.method == "POST":
        try:
            path = services.accept_company_file(connector)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("connectors:detail", pk=connector.pk)
        messages.success(request, f"{connector.name} now sends to {path}.")
        return redirect("connectors:detail", pk=connector.pk)
    return render(request, "connectors/accept_company_file.html", {"connector": connector})


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def connector_delete(request, pk):
    connector = get_object_or_404(WebConnector, pk=pk)
    try:
        services.check_connector_deletable(connector)
        problem = None
    except ValidationError as exc:
        problem = " ".join(exc.messages)
    if request.method == "POST" and problem is None:
        name = connector.name
        connector.delete()
        messages.success(request, f"Deleted web connector {name}.")
        return redirect("connectors:list")
    mapped = connector.mappings.select_related("organization").order_by("organization__name")
    return render(
        request,
        "connectors/delete.html",
        {"connector": connector, "problem": problem, "mapped": mapped[:100]},
        status=409 if request.method == "POST" else 200,
    )


# --- Organization / Web Connector Mapping ---------------------------------------------------


def _mapping_rows(request):
    form = MappingFilterForm(request.GET)
    mappings = OrganizationConnectorMapping.objects.select_related(
        "organization", "connector", "changed_by"
    ).order_by("organization__name", "pk")
    if form.is_valid():
        query = form.cleaned_data["q"].strip()
        if query:
            condition = Q(organization__name__icontains=query)
            if query.isdigit():
                condition |= Q(organization__autotask_id=int(query))
            mappings = mappings.filter(condition)
        if form.cleaned_data["connector"]:
            mappings = mappings.filter(connector=form.cleaned_data["connector"])
    page, query = paginate(request, mappings, 25, request.GET.get("page"))
    return form, page, query


@permission_required(PERM)
@require_GET
def mapping_list(request):
    form, page, query = _mapping_rows(request)
    context = {
        "form": form,
        "page": page,
        "query": query,
        "default": WebConnector.objects.default(),
        "mappable": WebConnector.objects.mappable().exists(),
    }
    template = "connectors/mapping_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#mappings"
    return render(request, template, context)


def _mapping_dialog(request, form, mapping=None, status=200):
    # The picker shows the chosen organization's name next to its hidden primary key.
    org_pk = form["organization"].value()
    label = ""
    if mapping is not None:
        label = mapping.organization.name
    elif str(org_pk or "").isdigit():
        label = Organization.objects.filter(pk=org_pk).values_list("name", flat=True).first() or ""
    context = {
        "form": form,
        "mapping": mapping,
        "picker_label": label,
        "existing": getattr(form, "existing_mapping", None),
    }
    if request.htmx:
        return render(request, "connectors/mapping_dialog.html", context, status=status)
    return render(request, "connectors/mapping_form_page.html", context, status=status)


def _add_errors(form, exc):
    """A service's refusal, shown on the dialog's fields (or above them)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


def _saved(request, message):
    messages.success(request, message)
    if request.htmx:
        # Close the dialog; the list (or the organization page's panel) listens for
        # mappingsChanged and refreshes itself in place, messages included.
        response = HttpResponse(status=204)
        trigger_client_event(response, "closeModal")
        trigger_client_event(response, "mappingsChanged")
        return response
    return redirect("connectors:mapping_list")


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def mapping_new(request):
    if request.method == "POST":
        form = MappingForm(request.POST)
        if form.is_valid():
            try:
                services.map_organization(
                    form.cleaned_data["organization"],
                    form.cleaned_data["connector"],
                    request.user,
                    create_only=True,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                org = form.cleaned_data["organization"]
                return _saved(
                    request, f"{org.name} now goes to {form.cleaned_data['connector'].name}."
                )
        return _mapping_dialog(request, form)
    initial = {}
    if request.GET.get("organization", "").isdigit():
        initial["organization"] = int(request.GET["organization"])
    form = MappingForm(initial=initial)
    return _mapping_dialog(request, form)


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def mapping_edit(request, pk):
    mapping = get_object_or_404(
        OrganizationConnectorMapping.objects.select_related("organization", "connector"), pk=pk
    )
    if request.method == "POST":
        form = MappingForm(request.POST, mapping=mapping)
        if form.is_valid():
            try:
                services.map_organization(
                    mapping.organization,
                    form.cleaned_data["connector"],
                    request.user,
                    expected_connector=form.expected(),
                )
            except services.MappingConflict as exc:
                form.add_error(None, exc)
                # Saving again now is a deliberate choice over the change just shown.
                form.data = form.data.copy()
                form.data["expected_connector"] = exc.current.pk if exc.current else ""
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return _saved(
                    request,
                    f"{mapping.organization.name} now goes to "
                    f"{form.cleaned_data['connector'].name}.",
                )
        return _mapping_dialog(request, form, mapping)
    return _mapping_dialog(request, MappingForm(mapping=mapping), mapping)


@permission_required(PERM)
@require_POST
def mapping_remove(request, pk):
    mapping = get_object_or_404(
        OrganizationConnectorMapping.objects.select_related("organization"), pk=pk
    )
    posted = request.POST.get("expected_connector")
    if posted is None:
        expected = services.ANY
    else:
        expected = int(posted) if posted.isdigit() else None
    try:
        services.unmap_organization(mapping.organization, request.user, expected_connector=expected)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        if request.htmx:
            # The list refreshes (messages included) and shows the mapping as it is now.
            response = HttpResponse(status=204)
            trigger_client_event(response, "mappingsChanged")
            return response
        return redirect("connectors:mapping_list")
    default = WebConnector.objects.default()
    message = f"{mapping.organization.name} goes to the default web connector"
    message += f" ({default.name}) again." if default else " again."
    return _saved(request, message)


@permission_required(PERM)
@require_GET
def organization_mapping(request, organization_pk):
    """The organization page's Tools entry: edit its mapping, or start one for it."""
    organization = get_object_or_404(Organization, pk=organization_pk)
    mapping = OrganizationConnectorMapping.objects.filter(organization=organization).first()
    if mapping is not None:
        return redirect("connectors:mapping_edit", pk=mapping.pk)
    return redirect(reverse("connectors:mapping_new") + f"?organization={organization.pk}")


# --- Panel on the organization page ---------------------------------------------------------


def organization_panel_context(request, organization):
    mapping = (
        OrganizationConnectorMapping.objects.select_related("connector")
        .filter(organization=organization)
        .first()
    )
    return {
        "organization": organization,
        "mapping": mapping,
        "connector": mapping.connector if mapping else WebConnector.objects.default(),
        "history": MappingChange.objects.filter(organization=organization).select_related(
            "changed_by"
        )[:25],
        "map_url": reverse("connectors:mapping_new") + f"?organization={organization.pk}",
    }


# --- Mappings as CSV ------------------------------------------------------------------------


def _mapping_import_page() -> ImportPage:
    term = current_term()
    return ImportPage(
        kind="connector-mappings",
        title="Import Organization / Web Connector Mappings",
        required=mapping_csv.REQUIRED,
        header=mapping_csv.HEADER,
        planner=mapping_csv.plan,
        done_url=reverse("connectors:mapping_list"),
        breadcrumbs=(("Organization / Web Connector Mapping", reverse("connectors:mapping_list")),),
        explanation=f"Each row sends a {term.lower} (by Autotask ID) to the web connector named in "
        f"connector; a blank connector, or the default's name, leaves it on the default.",
    )


@permission_required(PERM)
@require_GET
def mapping_export(request):
    """Every billable organization and the connector it is sent to, as CSV."""
    return csv_download(
        "organization-web-connector-mappings.csv", mapping_csv.HEADER, mapping_csv.export_rows()
    )


@max_body_bytes(IMPORT_BODY_BYTES)
@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def mapping_import(request):
    return import_view(request, _mapping_import_page())


def home_panel_context(request):
    """The QuickBooks side of the dashboard: how many organizations each connector receives."""
    connectors = list(WebConnector.objects.all())
    counts = services.routed_counts()
    for connector in connectors:
        connector.routed = counts.get(connector.pk, 0)
    return {"connectors": connectors, "total": sum(counts.values())}
