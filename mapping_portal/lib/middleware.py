"""Project-wide request checks that every view relies on."""

from django.http import HttpResponseBadRequest

from .text import control_character

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseControlCharacters:
    """Refuse, with 400 and a message naming the parameter, any request whose query string or
    form fields hold a control character (the rule is mapping_portal.lib.text's). Checked here
    once for every view: a NUL reaching a query fails on PostgreSQL as a server error, and a
    stored one breaks qbXML later. Uploaded files and other bodies (the SOAP endpoint's XML) are
    left to the code that reads them.

    It works in process_view, which runs after BodyLimitMiddleware's: reading the form fields
    reads the body, and an oversized body must be refused before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        sources = [("query parameter", request.GET)]
        if request.method == "POST" and request.content_type in FORM_TYPES:
            sources.append(("form field", request.POST))
        for what, params in sources:
            for key, values in params.lists():
                found = control_character(key + "".join(values))
                if found is not None:
                    return HttpResponseBadRequest(
                        f"The {what} {key!r} contains a control character ({found}); "
                        "remove it and try again.",
                        content_type="text/plain; charset=utf-8",
                    )
        return None
