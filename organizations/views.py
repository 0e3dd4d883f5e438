from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from mapping_portal.lib.body_limit import max_body_bytes
from mapping_portal.lib.csv_io import IMPORT_BODY_BYTES
from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.navigation import (
    home_panels,
    organization_panels,
    organization_tools,
    visible_panels,
)
from mapping_portal.lib.paging import paginate

from .forms import BrowseForm, ImportForm, OrganizationFilterForm, TermForm, TypeaheadForm
from .importing import MAX_IMPORT_BYTES, import_organizations
from .models import Organization, PortalSettings
from .terms import current_term

TYPEAHEAD_LIMIT = 15


@login_required
@require_GET
def home(request):
    """The dashboard after login: each app's progress panel the user may see."""
    panels = visible_panels(home_panels, request)
    return render(request, "organizations/home.html", {"panels": panels})


@permission_required("organizations.view_organization")
@require_GET
def organization_list(request):
    form = OrganizationFilterForm(request.GET)
    organizations = Organization.objects.select_related("parent")
    if form.is_valid():
        organizations = organizations.search(form.cleaned_data["q"])
        if form.cleaned_data["type"]:
            organizations = organizations.filter(org_type=form.cleaned_data["type"])
    page, query = paginate(request, organizations, 50, request.GET.get("page"))
    context = {"form": form, "page": page, "query": query}
    template = "organizations/list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)


@permission_required("organizations.view_organization")
@require_GET
def organization_detail(request, pk):
    organization = get_object_or_404(Organization.objects.select_related("parent"), pk=pk)
    tools = [
        {"label": link.label.format(term=current_term(request)), "url": link.url(organization.pk)}
        for link in organization_tools.for_user(request.user)
        if link.applies_to(organization)
    ]
    panels = visible_panels(organization_panels, request, organization)
    children = organization.children.order_by("name")[:50]
    return render(
        request,
        "organizations/detail.html",
        {"organization": organization, "tools": tools, "panels": panels, "children": children},
    )


@permission_required("organizations.view_organization")
@require_GET
def typeahead(request):
    """The one organization picker endpoint: billable only, case-insensitive substring match,
    names that start with the query first."""
    form = TypeaheadForm(request.GET)
    results = []
    query = ""
    if form.is_valid():
        query = form.cleaned_data["q"].strip()
        limit = form.cleaned_data["limit"] or TYPEAHEAD_LIMIT
        if query:
            results = (
                Organization.objects.billable()
                .only("pk", "name", "org_type", "autotask_id")
                .typeahead(query, limit)
            )
    return render(request, "organizations/_typeahead.html", {"results": results, "query": query})


@permission_required("organizations.view_organization")
@require_GET
def browse(request):
    """The picker's browse panel: search and page through billable organizations."""
    form = BrowseForm(request.GET)
    organizations = Organization.objects.billable().only("pk", "name", "org_type", "autotask_id")
    if form.is_valid():
        organizations = organizations.search(form.cleaned_data["q"])
    page, query = paginate(request, organizations, 10, request.GET.get("page"))
    return render(
        request, "organizations/_browse.html", {"page": page, "query": query, "form": form}
    )


@max_body_bytes(IMPORT_BODY_BYTES)
@permission_required("organizations.add_organization")
@require_http_methods(["GET", "POST"])
def import_csv(request):
    result = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.read(MAX_IMPORT_BYTES + 1)
            result = import_organizations(data)
            if result.ok:
                term = current_term(request)
                messages.success(
                    request,
                    f"Imported {upload.name}: {result.created} {term.lower_plural} created, "
                    f"{result.updated} updated, {result.unchanged} unchanged.",
                )
                return redirect("organizations:import")
    else:
        form = ImportForm()
    return render(request, "organizations/import.html", {"form": form, "result": result})


@permission_required("organizations.change_organization_term")
@require_http_methods(["GET", "POST"])
def term_settings(request):
    instance = PortalSettings.load()
    form = TermForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        request.__dict__.pop("_organization_term", None)
        messages.success(
            request, f"The portal now calls organizations “{current_term(request).plural}”."
        )
        return redirect("organizations:term")
    return render(request, "organizations/term.html", {"form": form})
