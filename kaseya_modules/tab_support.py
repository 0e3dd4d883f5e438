"""What the Kaseya mapping pages (both tabs, Review suggestions, bulk ignore, an organization's
Mappings page) share: the permission, the modules they show, htmx answers with the messages and
counters out of band, tab rendering, the filters a POST carries back, and the rows a bulk form
selected with the state each was rendered with."""

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from . import mapping, mapping_reads
from .models import KaseyaModule, ModuleOrganization

PERMISSION = "kaseya_modules.manage_icb"


def with_urls(module):
    module.typeahead_url = reverse("kaseya_modules:module_org_typeahead", args=[module.code])
    return module


def enabled_modules():
    return [with_urls(m) for m in KaseyaModule.objects.icb_enabled().order_by("name", "pk")]


def synced(modules):
    return [module for module in modules if not module.waiting_for_first_sync]


def error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def with_messages(request, html: str, modules=None) -> HttpResponse:
    """An htmx answer: the swapped fragment plus messages (and counters) out of band."""
    html += render_to_string("kaseya_modules/_oob_messages.html", {}, request)
    if modules is not None:
        html += render_to_string(
            "kaseya_modules/mapping/_counts.html",
            {"counts": mapping_reads.yet_to_be_mapped(modules), "oob": True},
            request,
        )
    return HttpResponse(html)


class Counted:
    """A queryset whose row count is already known (the yet-to-be-mapped counter), so the
    paginator does not run the same grouped subquery a second time."""

    def __init__(self, queryset, count):
        self.queryset, self._count = queryset, count

    def count(self):
        return self._count

    def __len__(self):
        return self._count

    def __getitem__(self, key):
        return self.queryset[key]


def render_tab(request, template, context):
    """A tab page; for htmx, only its results (search, paging) or the whole tab (tab switch)."""
    if request.htmx and not request.htmx.boosted:
        template += "#results" if request.htmx.target == "results" else "#tab"
    return render(request, template, context)


def back_query(request) -> str:
    query = request.POST.get("back", "")
    return f"?{query}" if query and "\n" not in query else ""


def bulk_items(request, ids):
    """(module organization, the state its row was rendered with) for each selected row."""
    found = ModuleOrganization.objects.select_related("organization", "module").in_bulk(ids)
    items = []
    for pk in ids:
        if pk not in found:
            continue
        expected_org = request.POST.get(f"expected_organization-{pk}", "")
        expected = mapping.ModuleOrgState(
            int(expected_org) if expected_org.isdigit() else None,
            request.POST.get(f"expected_ignored-{pk}") == "true",
        )
        items.append((found[pk], expected))
    return items
