"""The one upload → preview → apply flow behind every mapping CSV import page. Each app's view
is a thin, permission-checked function that names its planner and its page."""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from . import csv_io


class UploadForm(forms.Form):
    # The size cap is read_rows'; its refusal is listed with the file's other problems.
    file = forms.FileField(label="CSV file", help_text="UTF-8, comma-separated, with a header row.")


class ApplyForm(forms.Form):
    token = forms.CharField(max_length=64)
    fingerprint = forms.CharField(max_length=64)


@dataclass(frozen=True)
class ImportPage:
    kind: str  # names the kept upload, e.g. "module-mappings"
    title: str
    required: tuple
    header: list
    planner: object
    done_url: str  # where Apply goes when it worked
    breadcrumbs: tuple  # ((label, url or ""), …)
    explanation: str


def import_view(request, page: ImportPage):
    """GET: the upload form. POST with a file: the preview of every change and refusal (the
    file is kept for an hour under a token). POST apply: apply the previewed plan, all or
    nothing."""
    context = {"page": page, "form": UploadForm(), "plan": None}
    if request.method == "POST" and "apply" in request.POST:
        apply_form = ApplyForm(request.POST)
        data = None
        if apply_form.is_valid():
            data = csv_io.kept_upload(request.user, page.kind, apply_form.cleaned_data["token"])
        if data is None:
            messages.error(request, "The preview has expired. Upload the file again.")
            return redirect(request.path)
        try:
            plan = csv_io.apply_file(
                data,
                page.required,
                page.planner,
                apply_form.cleaned_data["fingerprint"],
                request.user,
            )
        except (csv_io.ImportStale, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, f"Nothing was applied. {text}")
            plan = csv_io.plan_file(data, page.required, page.planner)
            context.update(plan=plan, token=apply_form.cleaned_data["token"])
            return render(request, "csv_import.html", context)
        csv_io.forget_upload(request.user, page.kind, apply_form.cleaned_data["token"])
        count = len(plan.changes)
        messages.success(
            request, f"Applied {count} change{'' if count == 1 else 's'} from the file."
        )
        return redirect(page.done_url)
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            data = form.cleaned_data["file"].read()
            context["plan"] = csv_io.plan_file(data, page.required, page.planner)
            if context["plan"].ok and context["plan"].changes:
                context["token"] = csv_io.keep_upload(request.user, page.kind, data)
    return render(request, "csv_import.html", context)
