import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import InvoiceStatus
from mapping_portal.lib.navigation import connector_links
from qbwc_soap.models import CustomerTransfer, QbwcSession
from tests.organizations.factories import OrganizationFactory

from .invoice_support import approved_invoice, module

URL_NAMES = [
    "qbwc_soap:transfer_log",
    "qbwc_soap:transfer_states",
    "qbwc_soap:transfer_invoices",
]


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_anonymous_is_sent_to_login(client, default_connector, url_name):
    url = reverse(url_name, args=[default_connector.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_without_permission_is_403(plain_client, default_connector, url_name):
    assert plain_client.get(reverse(url_name, args=[default_connector.pk])).status_code == 403


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_permitted_is_200(qb_client, default_connector, url_name):
    assert qb_client.get(reverse(url_name, args=[default_connector.pk])).status_code == 200


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_htmx_request_gets_the_partial(qb_client, default_connector, url_name):
    response = qb_client.get(reverse(url_name, args=[default_connector.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"<section" in response.content


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_unknown_connector_is_404(qb_client, db, url_name):
    assert qb_client.get(reverse(url_name, args=[999])).status_code == 404


def make_sessions(connector, n):
    QbwcSession.objects.bulk_create(
        QbwcSession(
            ticket=f"t-{connector.pk}-{i}",
            connector=connector,
            status="done",
            qb_product="QuickBooks Pro",
            added=i,
        )
        for i in range(n)
    )


@pytest.mark.parametrize("count", [1, 60])
def test_session_log_query_count_is_constant(
    qb_client, default_connector, django_assert_max_num_queries, count
):
    make_sessions(default_connector, count)
    url = reverse("qbwc_soap:transfer_log", args=[default_connector.pk])
    with django_assert_max_num_queries(12):
        response = qb_client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("count", [1, 120])
def test_transfer_states_query_count_is_constant(
    qb_client, default_connector, django_assert_max_num_queries, count
):
    orgs = OrganizationFactory.create_batch(count)
    CustomerTransfer.objects.bulk_create(
        CustomerTransfer(
            organization=org,
            connector=default_connector,
            list_id=f"8000{org.pk:04X}-1",
            last_error_code=3250 if i % 2 else None,
            last_error="Feature not enabled" if i % 2 else "",
        )
        for i, org in enumerate(orgs)
    )
    url = reverse("qbwc_soap:transfer_states", args=[default_connector.pk])
    with django_assert_max_num_queries(12):
        response = qb_client.get(url)
    assert response.status_code == 200
    with django_assert_max_num_queries(12):
        assert qb_client.get(url + "?errors=1&page=2").status_code == 200


def test_session_log_shows_quickbooks_facts_and_errors(qb_client, default_connector):
    QbwcSession.objects.create(
        ticket="SECRET-TICKET-VALUE",
        connector=default_connector,
        status="error",
        qb_product="QuickBooks Premier 2024",
        qb_version="34.0",
        last_error="QuickBooks could not process the request (0x80040400)",
    )
    response = qb_client.get(reverse("qbwc_soap:transfer_log", args=[default_connector.pk]))
    assert b"QuickBooks Premier 2024 34.0" in response.content
    assert b"0x80040400" in response.content
    assert b"SECRET-TICKET-VALUE" not in response.content


def test_transfer_states_show_only_this_connectors_state(
    qb_client, default_connector, other_connector, organization
):
    CustomerTransfer.objects.create(
        organization=organization, connector=default_connector, list_id="MAIN-ID"
    )
    CustomerTransfer.objects.create(
        organization=organization, connector=other_connector, list_id="OTHER-ID"
    )
    response = qb_client.get(reverse("qbwc_soap:transfer_states", args=[default_connector.pk]))
    assert b"MAIN-ID" in response.content
    assert b"OTHER-ID" not in response.content


def test_errors_filter_lists_only_organizations_with_errors(
    qb_client, default_connector, organization
):
    ok = OrganizationFactory(name="Quiet Org")
    CustomerTransfer.objects.create(
        organization=organization, connector=default_connector, last_error_code=3250
    )
    CustomerTransfer.objects.create(organization=ok, connector=default_connector)
    url = reverse("qbwc_soap:transfer_states", args=[default_connector.pk])
    response = qb_client.get(url + "?errors=1")
    assert organization.name.encode() in response.content
    assert b"Quiet Org" not in response.content


def test_transfer_log_is_linked_from_the_connector_page():
    assert any(link.url_name == "qbwc_soap:transfer_log" for link in connector_links.links)


def test_connector_page_links_to_its_transfer_log(qb_client, default_connector):
    response = qb_client.get(reverse("connectors:detail", args=[default_connector.pk]))
    url = reverse("qbwc_soap:transfer_log", args=[default_connector.pk])
    assert f'href="{url}"'.encode() in response.content


def _sent_invoices(connector, count):
    mod = module()
    return [
        approved_invoice(
            OrganizationFactory(),
            mod,
            connector=connector,
            status=InvoiceStatus.IN_QUICKBOOKS,
            txn_id=f"TXN-{i}",
            sent_at=timezone.now(),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [1, 80])
def test_invoice_log_query_count_is_constant(
    qb_client, default_connector, django_assert_max_num_queries, count
):
    _sent_invoices(default_connector, count)
    url = reverse("qbwc_soap:transfer_invoices", args=[default_connector.pk])
    with django_assert_max_num_queries(12):
        response = qb_client.get(url)
    assert response.status_code == 200
    with django_assert_max_num_queries(12):
        assert qb_client.get(url + "?errors=1&page=2").status_code == 200


def test_invoice_log_shows_this_connectors_invoices_with_their_state(
    qb_client, default_connector, other_connector
):
    # given an invoice in QuickBooks and a refused one through this connector, one elsewhere
    [done] = _sent_invoices(default_connector, 1)
    refused = approved_invoice(
        OrganizationFactory(name="Refused Ltd"),
        module(),
        connector=default_connector,
        status=InvoiceStatus.FAILED,
        error_code=3140,
        error="There is an invalid reference to QuickBooks Item",
    )
    [elsewhere] = _sent_invoices(other_connector, 1)
    # when
    url = reverse("qbwc_soap:transfer_invoices", args=[default_connector.pk])
    page = qb_client.get(url).content.decode()
    # then
    assert done.ref_number in page and "TXN-0" in page and "In QuickBooks" in page
    assert refused.ref_number in page and "3140" in page and "invalid reference" in page
    assert elsewhere.ref_number not in page
    # and the errors filter keeps only the refused one
    errors = qb_client.get(url + "?errors=1").content.decode()
    assert refused.ref_number in errors and done.ref_number not in errors
