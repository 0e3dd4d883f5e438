"""The Autotask PSA settings page (Admin › Extensions & Integrations › Autotask PSA), its Sync now
button and the run status it polls."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from mapping_portal.lib.decorators import permission_required

from . import psa_sync
from .forms import PsaSettingsForm
from .models import PsaSettings, PsaSyncRun, PsaSyncTrigger

PERMISSION = "organizations.configure_psa"
RECENT_RUNS = 10
TEMPLATE = "organizations/psa.html"


def _status_context() -> dict:
    runs = list(PsaSyncRun.objects.select_related("requested_by")[:RECENT_RUNS])
    return {"psa": PsaSettings.load(), "runs": runs, "latest_run": runs[0] if runs else None}


@permission_required(PERMISSION)
@require_http_methods(["GET", "POST"])
def psa_settings(request):
    psa = PsaSettings.load()
    if request.method == "POST":
        form = PsaSettingsForm(request.POST, psa=psa)
        if form.is_valid():
            try:
                psa_sync.configure_psa(**form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "Autotask PSA settings saved.")
                if request.htmx:
                    return HttpResponseClientRedirect(request.path)
                return redirect("organizations:psa")
    else:
        form = PsaSettingsForm(
            initial={
                "base_url": psa.base_url or "https://webservices.autotask.net/ATServicesRest",
                "username": psa.username,
            },
            psa=psa,
        )
    template = TEMPLATE + ("#settings-form" if request.htmx and request.method == "POST" else "")
    return render(request, template, {"form": form, **_status_context()})


@permission_required(PERMISSION)
@require_POST
def psa_sync_now(request):
    try:
        psa_sync.request_sync(PsaSyncTrigger.MANUAL, request.user)
        messages.success(request, "Organization sync queued.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if not request.htmx:
        return redirect("organizations:psa")
    # The messages ride along as an out-of-band swap, since the page is not reloaded.
    html = render_to_string(TEMPLATE + "#status", _status_context(), request)
    html += render_to_string("organizations/_oob_messages.html", {}, request)
    return HttpResponse(html)


@permission_required(PERMISSION)
@require_GET
def psa_status(request):
    """Polled every 2 s while a sync is queued or running; answers 286 (stop polling) with the
    final state once it is done."""
    context = _status_context()
    response = render(request, TEMPLATE + "#status", context)
    if context["latest_run"] is None or not context["latest_run"].in_progress:
        return HttpResponseStopPolling(response.content)
    return response
