"""Reaching zero on "Yet to be mapped": ignore a module for a selection of organizations (Map by
Organization), ignore everything with no evidence after a review, and the Bulk actions history
where each of those can be undone. Every change goes through kaseya_modules.mapping."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.paging import paginate
from organizations.terms import current_term

from . import mapping_bulk, mapping_reads, tab_support
from .mapping_views import by_organization_context
from .models import MappingBatch

PAGE_SIZE = 50
BATCH_PAGE_SIZE = 25
# Names shown per module when the review covers every module (the total is always shown).
PREVIEW_NAMES = 10


class BulkIgnoreForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    module = forms.ChoiceField(choices=())

    def __init__(self, data, modules, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        # Any integer is a valid choice: the service looks the organizations up and judges them.
        self.fields["ids"].choices = [(v, v) for v in data.getlist("ids") if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = (
            f"Select at least one {current_term().lower}."
        )
        self.fields["module"].choices = [(m.code, m.name) for m in modules]
        self.fields["module"].error_messages["required"] = "Choose the module to ignore."
        self.modules = {m.code: m for m in modules}

    def clean_module(self):
        return self.modules[self.cleaned_data["module"]]


class WithoutEvidenceForm(forms.Form):
    """The module to review ('' for every synced module) and, on apply, the total reviewed."""

    module = forms.ChoiceField(choices=(), required=False)
    expected = forms.IntegerField(required=False, min_value=0)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, data, modules, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.fields["module"].choices = [("", "Every module")] + [(m.code, m.name) for m in modules]
        self.modules = {m.code: m for m in modules}

    def clean_module(self):
        return self.modules.get(self.cleaned_data["module"])


def _form_error(form) -> str:
    return tab_support.error_text(ValidationError(list(form.errors.values())))


def _done_message(batch, term) -> str:
    if batch is None:
        return "Nothing changed: there was nothing left to ignore."
    n = batch.count
    if batch.module:
        whom = term.lower if n == 1 else term.lower_plural
        done = f"{batch.module.name} is now ignored for {n} {whom}"
    else:
        done = f"{n} {term.lower} × module pair{pluralize(n)} {pluralize(n, 'is,are')} now ignored"
    return f"{done}, as one bulk action (Bulk actions can undo it)."


@permission_required(tab_support.PERMISSION)
@require_POST
def bulk_ignore(request):
    """Map by Organization's bulk form: the selected organizations have nothing in the chosen
    module. All or nothing; the page comes back with the counts."""
    modules = tab_support.enabled_modules()
    form = BulkIgnoreForm(request.POST, tab_support.synced(modules))
    if form.is_valid():
        module = form.cleaned_data["module"]
        try:
            batch = mapping_bulk.bulk_ignore_organizations(
                form.cleaned_data["ids"], module, request.user
            )
        except ValidationError as exc:
            messages.error(request, tab_support.error_text(exc))
        else:
            messages.success(request, _done_message(batch, current_term()))
    else:
        messages.error(request, _form_error(form))
    if request.htmx:
        # The filters and page ride along in `back`, so the list comes back as it was.
        request.GET = QueryDict(request.POST.get("back", ""))
        context = by_organization_context(request)
        html = render_to_string(
            "kaseya_modules/mapping/by_organization.html#results", context, request
        )
        return tab_support.with_messages(request, html, context["modules"])
    return redirect(reverse("kaseya_modules:map_by_organization") + tab_support.back_query(request))


def _review_context(request, form, modules):
    synced = tab_support.synced(modules)
    module = form.cleaned_data["module"] if form.is_valid() else None
    chosen = [module] if module else synced
    counts = mapping_bulk.without_evidence_counts(synced)
    context = {
        "form": form,
        "module": module,
        "per_module": [(m, counts[m.pk]) for m in synced],
        "total": sum(counts[m.pk] for m in chosen),
        "counts": mapping_reads.yet_to_be_mapped(modules),
        "tab": "",
    }
    if module:
        found = mapping_bulk.organizations_without_evidence(module).only("pk", "name")
        page, query = paginate(
            request, found.order_by("name_upper", "pk"), PAGE_SIZE, request.GET.get("page")
        )
        context.update(page=page, query=query)
    else:
        context["previews"] = [
            (
                m,
                counts[m.pk],
                mapping_bulk.organizations_without_evidence(m)
                .only("pk", "name")
                .order_by("name_upper", "pk")[:PREVIEW_NAMES],
            )
            for m in synced
            if counts[m.pk]
        ]
    return context


@permission_required(tab_support.PERMISSION)
@require_http_methods(["GET", "POST"])
def ignore_without_evidence(request):
    """GET: what "ignore everything with no evidence" would do, per module. POST: do it, as one
    batch, provided the total is still the one reviewed."""
    modules = tab_support.enabled_modules()
    synced = tab_support.synced(modules)
    data = request.POST if request.method == "POST" else request.GET
    form = WithoutEvidenceForm(data, synced)
    if request.method == "POST":
        if not form.is_valid() or form.cleaned_data["expected"] is None:
            messages.error(request, _form_error(form) or "Review the list first.")
        else:
            module = form.cleaned_data["module"]
            try:
                batch = mapping_bulk.ignore_without_evidence(
                    [module] if module else synced,
                    request.user,
                    module=module,
                    expected=form.cleaned_data["expected"],
                )
            except ValidationError as exc:
                messages.error(request, tab_support.error_text(exc))
            else:
                messages.success(request, _done_message(batch, current_term()))
                return redirect("kaseya_modules:bulk_actions")
        url = reverse("kaseya_modules:ignore_without_evidence")
        code = request.POST.get("module", "")
        return redirect(f"{url}?module={code}" if code in form.modules else url)
    context = _review_context(request, form, modules)
    return render(request, "kaseya_modules/ignore/without_evidence.html", context)


@permission_required(tab_support.PERMISSION)
@require_GET
def bulk_actions(request):
    """The Bulk actions history: each batch with who, when, how many, and its Undo."""
    modules = tab_support.enabled_modules()
    page, query = paginate(
        request, mapping_bulk.bulk_actions(), BATCH_PAGE_SIZE, request.GET.get("page")
    )
    context = {
        "page": page,
        "query": query,
        "counts": mapping_reads.yet_to_be_mapped(modules),
        "tab": "",
    }
    return render(request, "kaseya_modules/ignore/bulk_actions.html", context)


@permission_required(tab_support.PERMISSION)
@require_POST
def undo_bulk_action(request, pk):
    """Un-ignore what one batch ignored and still stands; the rest is skipped and counted."""
    batch = get_object_or_404(MappingBatch, pk=pk)
    try:
        batch = mapping_bulk.undo_batch(batch, request.user)
    except ValidationError as exc:
        messages.error(request, tab_support.error_text(exc))
    else:
        undone, skipped = batch.undone_count, batch.skipped_count
        text = f"Undone: {undone} ignore{pluralize(undone)} removed."
        if skipped:
            text += (
                f" {skipped} skipped: changed since the bulk action "
                f"({'it was' if skipped == 1 else 'they were'} un-ignored or ignored again)."
            )
        messages.success(request, text)
    return redirect("kaseya_modules:bulk_actions")
