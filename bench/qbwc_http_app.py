"""Bench-only WSGI application (and its own URLconf) for bench/qbwc_conversation.py.

Served by one real HTTP server (gunicorn, started by the bench), it answers:

- /qbwc/  the real QBWC endpoint (qbwc_soap.views.soap), through the project's whole middleware
  stack, exactly as production serves it;
- /echo/  a bare spyne echo service (plain Soap11, lxml validation, one Unicode in, the same out)
  — the issue's floor;
- /same/  a bare spyne service with sendRequestXML/receiveResponseXML's signatures that does no
  work: it answers sendRequestXML with the qbXML request set by the last POST to /same/canned/.

Every response carries `Server-Timing: app;dur=<ms>, db;dur=<ms>, sql;desc=<n>`: the time spent in
the Django application for that request (parsing, the view, the database, serializing), the part
of it spent executing SQL statements (COMMIT not included), and how many statements it executed
(BEGIN and COMMIT not included: Django issues them through the driver, not as statements), as the
server measured them.

    gunicorn --workers 1 --worker-class gthread --threads 1 --no-control-socket \
        bench.qbwc_http_app:application
"""

import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapping_portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from spyne import Application, Integer32, ServiceBase, Unicode, rpc  # noqa: E402
from spyne.protocol.soap import Soap11  # noqa: E402
from spyne.server.django import DjangoView  # noqa: E402

from mapping_portal.lib.body_limit import max_body_bytes  # noqa: E402
from qbwc_soap.views import soap  # noqa: E402

TNS = "http://developer.intuit.com/"


class Echo(ServiceBase):
    @rpc(Unicode, _returns=Unicode)
    def echo(ctx, text):  # noqa: N805
        return text


# What the same-messages service answers sendRequestXML with: the qbXML request our endpoint
# produced in this round trip (set by the driver before the call).
canned = {"request": ""}
String = Unicode(min_occurs=0, nillable=False)
Int = Integer32(min_occurs=1, nillable=False)


class SameMessages(ServiceBase):
    @rpc(String, String, String, String, Int, Int, _returns=String)
    def sendRequestXML(  # noqa: N802, N805
        ctx,
        ticket,
        strHCPResponse,  # noqa: N803
        strCompanyFileName,  # noqa: N803
        qbXMLCountry,  # noqa: N803
        qbXMLMajorVers,  # noqa: N803
        qbXMLMinorVers,  # noqa: N803
    ):
        return canned["request"]

    @rpc(String, String, String, String, _returns=Int)
    def receiveResponseXML(ctx, ticket, response, hresult, message):  # noqa: N802, N805
        return 100 if response else -1


def bare_view(service):
    spyne_view = DjangoView.as_view(
        application=Application(
            [service], tns=TNS, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11()
        )
    )
    # The endpoint's body limit (qbwc_soap.views.soap), so the path is the same.
    return max_body_bytes(lambda: settings.QBWC_MAX_BODY_BYTES)(csrf_exempt(spyne_view))


echo_view = bare_view(Echo)
same_view = bare_view(SameMessages)


@csrf_exempt
def set_canned(request):
    canned["request"] = request.body.decode()
    return HttpResponse("")


urlpatterns = [
    path("qbwc/", soap),
    path("echo/", echo_view),
    path("same/", same_view),
    path("same/canned/", set_canned),
]

settings.ROOT_URLCONF = __name__
# The batch size the bench asked for (bench/qbwc_conversation.py N BATCH), else the setting's.
if os.environ.get("BENCH_QBWC_BATCH_SIZE"):
    settings.QBWC_BATCH_SIZE = int(os.environ["BENCH_QBWC_BATCH_SIZE"])
_django = get_wsgi_application()


def application(environ, start_response):
    started = time.perf_counter()
    got = {}

    def capture(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers

    database = [0.0, 0]

    def timed(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            database[0] += time.perf_counter() - began
            database[1] += 1

    with connection.execute_wrapper(timed):
        result = _django(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    elapsed = time.perf_counter() - started
    headers = [(k, v) for k, v in got["headers"] if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    timing = f"app;dur={elapsed * 1000:.3f}, db;dur={database[0] * 1000:.3f}"
    headers.append(("Server-Timing", f'{timing}, sql;desc="{database[1]}"'))
    start_response(got["status"], headers)
    return [body]
