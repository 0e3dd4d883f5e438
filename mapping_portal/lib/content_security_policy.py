"""The Content-Security-Policy header on every response (Django 5.2 has none built in).

The policy (settings.CONTENT_SECURITY_POLICY) allows scripts, styles, fonts and requests only
from the portal itself: no inline <script>, no on…= handlers, no style= attributes, no eval (htmx
runs with allowEval false; its hx-on and [filter] triggers would need 'unsafe-eval'). A view
that sets its own header keeps it.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
