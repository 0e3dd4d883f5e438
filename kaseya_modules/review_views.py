"""Review suggestions: the stored best suggestion of every module organization still to be
mapped, filtered by module and confidence, and Accept selected (kaseya_modules.mapping
accept_suggestions: the rows changed since the page was rendered are skipped and named)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import QueryDict
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.paging import paginate
from organizations.models import Organization

from . import mapping_bulk, mapping_reads, tab_support
from .forms import AcceptSuggestionsForm, ReviewFilterForm
from .models import Confidence, MappingSuggestion

REVIEW_PAGE_SIZE = 100
TEMPLATE = "kaseya_modules/review/review.html"


def _remaining(suggestions) -> dict:
    """{confidence: suggestions left} and their total, in one grouped query."""
    rows = suggestions.values("confidence").annotate(n=Count("pk")).order_by()
    found = {row["confidence"]: row["n"] for row in rows}
    by_confidence = [(value, label, found.get(value, 0)) for value, label in Confidence.choices]
    return {"by_confidence": by_confidence, "total": sum(found.values())}


def _review_context(request):
    modules = tab_support.enabled_modules()
    synced = tab_support.synced(modules)
    form = ReviewFilterForm(request.GET, modules=synced)
    suggestions = MappingSuggestion.objects.review().filter(module__in=[m.pk for m in synced])
    confidence = ""
    if form.is_valid():
        if form.cleaned_data["module"]:
            suggestions = suggestions.filter(module__code=form.cleaned_data["module"])
        confidence = form.cleaned_data["confidence"]
    remaining = _remaining(suggestions)
    if confidence:
        suggestions = suggestions.filter(confidence=confidence)
    known = dict((value, n) for value, _, n in remaining["by_confidence"])
    count = known[confidence] if confidence else remaining["total"]
    suggestions = suggestions.select_related("module_organization__parent__parent")
    # The paginator is told the count the grouped query already found.
    page, query = paginate(
        request, tab_support.Counted(suggestions, count), REVIEW_PAGE_SIZE, request.GET.get("page")
    )
    for suggestion in page:
        # The suggestion's module is its module organization's (copied): no query per row.
        suggestion.module_organization.module = suggestion.module
    usage = mapping_reads.latest_usage([s.module_organization for s in page])
    for suggestion in page:
        suggestion.latest = usage.get(suggestion.module_organization_id, [])
    return {
        "form": form,
        "page": page,
        "query": query,
        "remaining": remaining,
        "modules": modules,
        "counts": mapping_reads.yet_to_be_mapped(modules),
        "tab": "review",
    }


@permission_required(tab_support.PERMISSION)
@require_GET
def review_suggestions(request):
    return tab_support.render_tab(request, TEMPLATE, _review_context(request))


def _accept_items(request, ids):
    """(module organization, organization it was suggested to, expected state) per selected row,
    as the page rendered it."""
    items = tab_support.bulk_items(request, ids)
    posted = {mo.pk: request.POST.get(f"organization-{mo.pk}", "") for mo, _ in items}
    organizations = Organization.objects.in_bulk(
        [int(value) for value in posted.values() if value.isdigit()]
    )
    result, missing = [], []
    for module_org, expected in items:
        value = posted[module_org.pk]
        organization = organizations.get(int(value)) if value.isdigit() else None
        if organization is None:
            missing.append((module_org.name, "its suggested organization no longer exists"))
        else:
            result.append((module_org, organization, expected))
    return result, missing


def _accept_message(request, accepted: int, skipped: list) -> None:
    text = f"Accepted {accepted}."
    if skipped:
        named = "; ".join(f"{name} ({reason})" for name, reason in skipped)
        text += f" Skipped {len(skipped)}: {named}"
        messages.warning(request, text)
    else:
        messages.success(request, f"Accepted {accepted} suggestion{pluralize(accepted)}.")


@permission_required(tab_support.PERMISSION)
@require_POST
def accept_suggestions(request):
    """Accept selected: map each selected module organization to the organization it was
    suggested to; rows changed since the page was rendered are skipped and named."""
    form = AcceptSuggestionsForm(request.POST)
    if form.is_valid():
        items, missing = _accept_items(request, form.cleaned_data["ids"])
        accepted, skipped = mapping_bulk.accept_suggestions(items, request.user)
        _accept_message(request, accepted, missing + skipped)
    else:
        messages.error(request, tab_support.error_text(ValidationError(list(form.errors.values()))))
    if not request.htmx:
        return redirect(
            reverse("kaseya_modules:review_suggestions") + tab_support.back_query(request)
        )
    # The filters ride along in `back`, so the list comes back as the user was seeing it.
    request.GET = QueryDict(request.POST.get("back", ""))
    context = _review_context(request)
    html = render_to_string(f"{TEMPLATE}#results", context, request)
    return tab_support.with_messages(request, html, context["modules"])
