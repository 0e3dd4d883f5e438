from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from mapping_portal.lib.decorators import permission_required

from . import services
from .forms import SourceForm, StatusForm, SyncEmailForm, ToggleForm
from .models import (
    KaseyaModule,
    ModuleOrganization,
    SyncEmailSubscription,
    SyncRun,
    SyncTrigger,
)

PERMISSION = "kaseya_modules.manage_icb"
RECENT_RUNS = 10


def _with_latest_run(modules):
    """Modules with `latest_run` set, in two queries whatever the number of modules."""
    latest = SyncRun.objects.filter(module=OuterRef("pk")).order_by("-queued_at", "-pk")
    modules = list(modules.annotate(latest_run_id=Subquery(latest.values("pk")[:1])))
    runs = SyncRun.objects.in_bulk([m.latest_run_id for m in modules if m.latest_run_id])
    for module in modules:
        module.latest_run = runs.get(module.latest_run_id)
    return modules


def _module(code):
    modules = _with_latest_run(KaseyaModule.objects.filter(code=code))
    if not modules:
        raise Http404("No such module.")
    return modules[0]


@permission_required(PERMISSION)
@require_GET
def module_list(request):
    modules = _with_latest_run(KaseyaModule.objects.order_by("-icb_enabled", "name"))
    subscribed = SyncEmailSubscription.objects.filter(user=request.user).exists()
    return render(
        request, "kaseya_modules/modules.html", {"modules": modules, "subscribed": subscribed}
    )


@permission_required(PERMISSION)
@require_POST
def sync_email(request):
    """Opt in to (or out of) the email after each sync that finds new unmapped module
    organizations."""
    form = SyncEmailForm(request.POST)
    form.is_valid()  # a lone optional boolean cannot be invalid
    if form.cleaned_data["subscribe"]:
        SyncEmailSubscription.objects.get_or_create(user=request.user)
        if request.user.email:
            messages.success(request, f"You will get an email at {request.user.email} after a "
                             "sync that finds new module organizations to map.")  # fmt: skip
        else:
            messages.warning(request, "Saved, but your account has no email address yet: ask "
                             "an administrator to add one.")  # fmt: skip
    else:
        SyncEmailSubscription.objects.filter(user=request.user).delete()
        messages.success(request, "You will no longer get sync emails.")
    return redirect("kaseya_modules:modules")


@permission_required(PERMISSION)
@require_http_methods(["GET", "POST"])
def module_detail(request, code):
    module = _module(code)
    if request.method == "POST":
        form = SourceForm(request.POST, module=module)
        if form.is_valid():
            try:
                services.configure_source(
                    module,
                    source_kind=form.cleaned_data["source_kind"],
                    base_url=form.cleaned_data["base_url"],
                    credentials=form.cleaned_data["credentials"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, f"Source settings for {module.name} saved.")
                if request.htmx:
                    return HttpResponseClientRedirect(request.path)
                return redirect("kaseya_modules:module", code=module.code)
    else:
        form = SourceForm(
            initial={"source_kind": module.source_kind, "base_url": module.base_url},
            module=module,
        )
    template = "kaseya_modules/module.html"
    if request.htmx and request.method == "POST":
        template += "#source-form"
    runs = module.sync_runs.all()[:RECENT_RUNS]
    return render(request, template, {"module": module, "form": form, "runs": runs})


def _back(request, module):
    """htmx callers get the module's row (list) or status block (module page) re-rendered."""
    if request.htmx:
        module = _module(module.code)
        if request.POST.get("from") == "module":
            template = "kaseya_modules/module.html#status"
            context = {"module": module, "runs": module.sync_runs.all()[:RECENT_RUNS]}
        else:
            template = "kaseya_modules/modules.html#row"
            context = {"module": module}
        # The messages ride along as an out-of-band swap, since the page is not reloaded.
        html = render_to_string(template, context, request) + render_to_string(
            "kaseya_modules/_oob_messages.html", {}, request
        )
        return HttpResponse(html)
    if request.POST.get("from") == "module":
        return redirect("kaseya_modules:module", code=module.code)
    return redirect("kaseya_modules:modules")


@permission_required(PERMISSION)
@require_POST
def module_toggle(request, code):
    module = get_object_or_404(KaseyaModule, code=code)
    form = ToggleForm(request.POST)
    form.is_valid()  # a lone optional boolean cannot be invalid
    try:
        if form.cleaned_data["enabled"]:
            services.enable_icb(module, request.user)
            messages.success(
                request,
                f"Integrated Customer Billing enabled for {module.name}; its first sync is queued.",
            )
        elif not form.cleaned_data["confirm"]:
            url = reverse("kaseya_modules:disable", args=[module.code])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        else:
            services.disable_icb(module, request.user)
            messages.success(request, f"Integrated Customer Billing disabled for {module.name}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return _back(request, module)


@permission_required(PERMISSION)
@require_GET
def module_disable(request, code):
    """The confirmation before disabling: what leaves the mapping pages, and that nothing is
    deleted. Its form posts to module_toggle with confirm."""
    module = get_object_or_404(KaseyaModule, code=code)
    if not module.icb_enabled:
        return redirect("kaseya_modules:module", code=module.code)
    counts = ModuleOrganization.objects.filter(module=module, active=True).aggregate(
        total=Count("pk"),
        mapped=Count("pk", filter=Q(organization__isnull=False)),
        ignored=Count("pk", filter=Q(ignored=True)),
    )
    return render(request, "kaseya_modules/disable.html", {"module": module, "counts": counts})


@permission_required(PERMISSION)
@require_POST
def module_sync(request, code):
    module = get_object_or_404(KaseyaModule, code=code)
    try:
        services.request_sync(module, SyncTrigger.MANUAL, request.user)
        messages.success(request, f"Sync of {module.name} queued.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return _back(request, module)


@permission_required(PERMISSION)
@require_GET
def module_status(request, code):
    """Polled every 2 s while a sync is queued or running; answers 286 (stop polling) with the
    final state once it is done."""
    module = _module(code)
    form = StatusForm(request.GET)
    with_runs = form.is_valid() and form.cleaned_data["runs"]
    context = {"module": module}
    if with_runs:
        context["runs"] = module.sync_runs.all()[:RECENT_RUNS]
        template = "kaseya_modules/module.html#status"
    else:
        template = "kaseya_modules/modules.html#status"
    response = render(request, template, context)
    if module.latest_run is None or not module.latest_run.in_progress:
        return HttpResponseStopPolling(response.content)
    return response
