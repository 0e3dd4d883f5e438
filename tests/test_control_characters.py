"""One rule for control characters (mapping_portal.lib.text), applied at the request boundary:
a query string or form field holding one is refused with 400 and a message, on every view, so a
NUL never reaches a query (a server error on PostgreSQL) or the database."""

import pytest
from django.contrib.auth.models import User
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse

from mapping_portal.lib.text import control_character, strip_control_characters
from tests.kaseya_modules.mapping_support import icb_client, icb_user, module_org, synced_module

__all__ = ["icb_client", "icb_user"]  # fixtures used below

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Acme\tCorp\r\nHQ", None),
        ("Müller & Söhne — Zürich", None),
        ("Ac\x00me", "U+0000"),
        ("Ac\x01me", "U+0001"),
        ("Ac\x7fme", "U+007F"),
        ("Ac\x85me", "U+0085"),
        ("Ac\ud800me", "U+D800"),
        ("Ac\uffffme", "U+FFFF"),
    ],
)
def test_what_counts_as_a_control_character(text, found):
    assert control_character(text) == found


def test_stripping_keeps_tabs_and_line_breaks():
    assert strip_control_characters("a\x00b\tc\nd\x1f") == "ab\tc\nd"


def test_a_nul_in_the_module_organization_typeahead_query_is_a_400(icb_client):
    module = synced_module(code="graphus_m")
    module_org(module, "ACME Corp")
    url = reverse("kaseya_modules:module_org_typeahead", args=[module.code])

    response = icb_client.get(url + "?q=%00")

    assert response.status_code == 400
    assert response.content.decode() == (
        "The query parameter 'q' contains a control character (U+0000); remove it and try again."
    )
    assert "ACME Corp" in icb_client.get(url, {"q": "acme"}).content.decode()


def test_a_nul_in_the_organization_typeahead_query_is_a_400(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-1-root"))

    response = client.get(reverse("organizations:typeahead") + "?q=%00")

    assert response.status_code == 400
    assert "control character (U+0000)" in response.content.decode()


def url_names(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            yield from url_names(pattern.url_patterns, namespace)
        elif pattern.name:
            yield prefix + pattern.name


def test_every_page_refuses_a_nul_in_any_query_parameter(client):
    # given: a user who may see every page, and every URL that takes no arguments
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-1-root"))
    urls = set()
    for name in url_names(get_resolver().url_patterns):
        try:
            urls.add(reverse(name))
        except NoReverseMatch:
            continue
    assert reverse("kaseya_modules:map_by_module_organization") in urls

    # when / then: whichever filter the page reads, it answers 400, never 500
    for url in sorted(urls):
        for query in ("q=%00", "page=%00", "status=x%01", "%00=1"):
            response = client.get(f"{url}?{query}")
            assert response.status_code == 400, (url, query, response.status_code)


def test_a_control_character_in_a_posted_form_field_is_a_400(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-1-root"))

    response = client.post(reverse("organizations:term"), {"organization_term": "Cu\x00stomer"})

    assert response.status_code == 400
    assert "form field 'organization_term' contains a control character" in (
        response.content.decode()
    )
