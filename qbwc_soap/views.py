from django.conf import settings
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from spyne.server.django import DjangoServer, DjangoView

from billing.models import Invoice, InvoiceStatus
from connectors.models import WebConnector
from mapping_portal.lib.body_limit import max_body_bytes
from mapping_portal.lib.decorators import permission_required
from mapping_portal.lib.paging import paginate

from . import wsdl
from .kinds.customers import transfer_states as customer_transfer_states
from .service import application

PERM = "connectors.configure_quickbooks"

_spyne_view = DjangoView.as_view(application=application)

# spyne caches the WSDL with the first caller's address baked in, and rebuilding it per request
# is broken in spyne 2.14; so it is built once (in Intuit's layout, wsdl.py) with a placeholder
# address and the address filled in here.
_WSDL_PLACEHOLDER = "http://qbwc-address.invalid/qbwc/"
_wsdl = None


def _wsdl_for(request) -> HttpResponse:
    global _wsdl
    if _wsdl is None:
        interface = DjangoServer(application).doc.wsdl11
        interface.build_interface_document(_WSDL_PLACEHOLDER)
        generated = interface.get_interface_document()
        _wsdl = wsdl.intuit_layout(generated, _WSDL_PLACEHOLDER).decode()
    address = request.build_absolute_uri(request.path)
    return HttpResponse(
        _wsdl.replace(_WSDL_PLACEHOLDER, address), content_type="text/xml; charset=utf-8"
    )


# Bodies over QBWC's own 10 MB post limit are refused (413) before anything reads them.
@max_body_bytes(lambda: settings.QBWC_MAX_BODY_BYTES)
@csrf_exempt
def soap(request):
    """The QBWC endpoint: GET ?wsdl serves the WSDL, POST a SOAP call."""
    if request.method == "GET" and "wsdl" in {key.lower() for key in request.GET}:
        return _wsdl_for(request)
    return _spyne_view(request)


@permission_required(PERM)
@require_GET
def transfer_log(request, pk):
    """A connector's QBWC sessions, newest first."""
    connector = get_object_or_404(WebConnector, pk=pk)
    page, query = paginate(request, connector.qbwc_sessions.all(), 25, request.GET.get("page"))
    context = {"connector": connector, "page": page, "query": query}
    template = "qbwc_soap/transfer_log.html"
    if request.htmx:
        template += "#sessions"
    return render(request, template, context)


@permission_required(PERM)
@require_GET
def transfer_states(request, pk):
    """Each organization routed to a connector and what its company file holds for it."""
    connector = get_object_or_404(WebConnector, pk=pk)
    states = customer_transfer_states(connector)
    errors_only = request.GET.get("errors") == "1"
    if errors_only:
        states = states.filter(t__last_error_code__isnull=False)
    page, query = paginate(request, states, 50, request.GET.get("page"))
    context = {"connector": connector, "page": page, "query": query, "errors_only": errors_only}
    template = "qbwc_soap/transfer_states.html"
    if request.htmx:
        template += "#states"
    return render(request, template, context)


@permission_required(PERM)
@require_GET
def transfer_invoices(request, pk):
    """The invoices sent through a connector, latest first: where each stands in its company
    file (sent and awaiting QuickBooks' answer, in QuickBooks, refused) with QuickBooks' error."""
    connector = get_object_or_404(WebConnector, pk=pk)
    invoices = (
        Invoice.objects.filter(connector=connector)
        .select_related("organization")
        .only(
            "organization__name",
            "period",
            "status",
            "ref_number",
            "txn_id",
            "error_code",
            "error",
            "sent_at",
            "transferred_at",
            "send_attempts",
        )
        .order_by("-sent_at", "-pk")
    )
    errors_only = request.GET.get("errors") == "1"
    if errors_only:
        invoices = invoices.filter(Q(status=InvoiceStatus.FAILED) | ~Q(error=""))
    page, query = paginate(request, invoices, 50, request.GET.get("page"))
    context = {"connector": connector, "page": page, "query": query, "errors_only": errors_only}
    template = "qbwc_soap/transfer_invoices.html"
    if request.htmx:
        template += "#invoices"
    return render(request, template, context)
