"""Datto partner API v1 (SaaS Protection, BCDR) over real HTTP on loopback, in the shapes of
docs/datto-partner.md, through the real sync path."""

import base64
import io
import logging
import time

import pytest
from django.core.management import call_command

from kaseya_modules.forms import SourceForm
from kaseya_modules.models import (
    KaseyaModule,
    ModuleOrganization,
    ModuleUsage,
    SourceKind,
    SyncRun,
    SyncStatus,
)
from kaseya_modules.sources import SourceError
from kaseya_modules.sources.datto_partner import DattoPartnerSource

from .conftest import sync

PUBLIC_KEY = "pub-4f1c2a"
SECRET_KEY = "sec-9d8e7f6a5b4c3d2e1f"
CREDENTIALS = f"{PUBLIC_KEY}:{SECRET_KEY}"
BASIC = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()
DEVICE_QUERY = "_page={page}&_perPage=100&showHiddenDevices=0&showChildResellerDevices=1"


def domain(customer_id, name, seats, product="Office365"):
    # A row of GET /v1/saas/domains (APIS.md appendix).
    return {
        "saasCustomerId": customer_id,
        "saasCustomerName": name,
        "organizationId": 12345,
        "organizationName": f"{name} Group",
        "domain": f"{name.split()[0].lower()}.onmicrosoft.com",
        "productType": product,
        "externalSubscriptionId": f"Classic:{product}:{customer_id}",
        "retentionType": "ICR",
        "seatsUsed": seats,
        "backupStats": {
            "activeServicesCount": 89,
            "activeServicesWithRecentBackupCount": 71,
            "backupPercentage": 79.78,
        },
    }


def device(serial, client, agents, **extra):
    # An item of GET /v1/bcdr/device (APIS.md appendix; fields from Celerium's device report).
    return {
        "serialNumber": serial,
        "name": f"{client}-SIRIS",
        "model": "S5-2",
        "clientCompanyName": client,
        "resellerCompanyName": "MSP Inc",
        "hidden": False,
        "agentCount": agents,
        "shareCount": 1,
        "alertCount": 0,
        "servicePlan": "Infinite Cloud Retention",
        "lastSeenDate": "2026-11-29T22:00:00+00:00",
        **extra,
    }


def device_page(items, page, total_pages):
    return {
        "pagination": {"page": page, "perPage": 100, "totalPages": total_pages, "count": 0},
        "items": items,
    }


def serve_devices(httpserver, pages):
    for number, items in enumerate(pages, start=1):
        httpserver.expect_request(
            "/v1/bcdr/device",
            query_string=DEVICE_QUERY.format(page=number),
            headers={"Authorization": BASIC},
        ).respond_with_json(device_page(items, number, len(pages)))


def serve_domains(httpserver, rows):
    httpserver.expect_request(
        "/v1/saas/domains", headers={"Authorization": BASIC}
    ).respond_with_json(rows)


def configured(code, httpserver, base="/v1"):
    module = KaseyaModule.objects.get(code=code)
    module.source_kind = SourceKind.DATTO_PARTNER
    module.base_url = httpserver.url_for(base)
    module.credentials = CREDENTIALS
    module.icb_enabled = True
    module.save()
    return module


def usage_of(module):
    return {
        (u.module_organization.name, u.billing_type): u.quantity
        for u in ModuleUsage.objects.filter(module_organization__module=module).select_related(
            "module_organization"
        )
    }


DOMAINS = [
    domain(53124, "Integrity Health", 15),
    domain(53124, "Integrity Health", 4, product="GoogleApps"),
    domain(60001, "Acme Ltd", 30),
]

DEVICE_PAGES = [
    [device("a0b1c2", "Acme Ltd", 6), device("a0b1c3", "Bravo LLC", 2)],
    [device("a0b1c4", "acme  ltd", 3), device("a0b1c5", "", 9)],
    [device("a0b1c6", "Charlie Co", 0)],
]


def test_saas_protection_customers_become_organizations_with_their_seats(db, httpserver):
    # given
    serve_domains(httpserver, DOMAINS)
    module = configured("saas_protection", httpserver)

    # when
    run = sync(module)

    # then
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert set(module.organizations.values_list("external_id", "name", "kind")) == {
        ("53124", "Integrity Health", "organization"),
        ("60001", "Acme Ltd", "organization"),
    }
    assert usage_of(module) == {("Integrity Health", "seats"): 19, ("Acme Ltd", "seats"): 30}


def test_bcdr_reads_every_device_page_and_counts_agents_per_client(db, httpserver):
    # given: Acme's appliances on pages 1 and 2, spelled differently; one appliance unassigned
    serve_devices(httpserver, DEVICE_PAGES)
    module = configured("datto_bcdr", httpserver)

    # when
    run = sync(module)

    # then
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert run.pages_fetched == 3
    assert set(module.organizations.values_list("external_id", "name")) == {
        ("acme ltd", "Acme Ltd"),
        ("bravo llc", "Bravo LLC"),
        ("charlie co", "Charlie Co"),
    }
    assert usage_of(module) == {
        ("Acme Ltd", "protected_machines"): 9,
        ("Bravo LLC", "protected_machines"): 2,
        ("Charlie Co", "protected_machines"): 0,
    }


def test_bcdr_without_appliances_is_one_empty_page(db, httpserver):
    httpserver.expect_request(
        "/v1/bcdr/device", query_string=DEVICE_QUERY.format(page=1)
    ).respond_with_json({"pagination": {"page": 1, "perPage": 100, "totalPages": 0}, "items": []})
    module = configured("datto_bcdr", httpserver)

    run = sync(module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert len(httpserver.log) == 1 and not module.organizations.exists()


def test_bcdr_never_counts_hidden_appliances(db, httpserver):
    serve_devices(
        httpserver, [[device("a1", "Acme Ltd", 4), device("a2", "Acme Ltd", 5, hidden=True)]]
    )

    organizations = DattoPartnerSource(
        base_url=httpserver.url_for(""),
        credentials=CREDENTIALS,
        billing_types={"protected_machines"},
    ).fetch_all()

    assert [(o.name, dict(o.usage)) for o in organizations] == [
        ("Acme Ltd", {"protected_machines": 4})
    ]


def test_base_url_with_or_without_v1_reaches_the_same_api(db, httpserver):
    serve_domains(httpserver, DOMAINS)

    for base in ("", "/v1", "/v1/"):
        source = DattoPartnerSource(
            base_url=httpserver.url_for(base), credentials=CREDENTIALS, billing_types={"seats"}
        )
        assert len(source.fetch_all()) == 2


def test_429_waits_for_retry_after_then_succeeds(db, httpserver):
    serve_domains(httpserver, DOMAINS)
    httpserver.expect_oneshot_request("/v1/saas/domains").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0.3"}
    )
    module = configured("saas_protection", httpserver)

    started = time.monotonic()
    run = sync(module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert len(httpserver.log) == 2
    # The test backoff is 0.01s: only the server's Retry-After makes the retry wait this long.
    assert time.monotonic() - started >= 0.3
    assert module.organizations.count() == 2


def test_a_5xx_then_success_completes_the_bcdr_sync(db, httpserver):
    serve_devices(httpserver, DEVICE_PAGES)
    httpserver.expect_oneshot_request(
        "/v1/bcdr/device", query_string=DEVICE_QUERY.format(page=2)
    ).respond_with_data("bad gateway", status=502)
    module = configured("datto_bcdr", httpserver)

    run = sync(module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert usage_of(module)[("Acme Ltd", "protected_machines")] == 9


def test_a_malformed_page_fails_the_run_names_the_page_and_changes_nothing(db, httpserver):
    # given: a first sync stored three clients
    serve_devices(httpserver, DEVICE_PAGES)
    module = configured("datto_bcdr", httpserver)
    assert sync(module).status == SyncStatus.SUCCEEDED
    before = list(ModuleOrganization.objects.values_list("external_id", "name", "active"))
    usage_before = usage_of(module)
    # and now page 2 has lost its items list
    httpserver.clear_all_handlers()
    pages = [DEVICE_PAGES[0], None, [device("z9", "Zulu", 1)]]
    for number, items in enumerate(pages, start=1):
        body = device_page(items, number, 3)
        if items is None:
            body = {"pagination": {"page": 2, "perPage": 100, "totalPages": 3}, "data": []}
        httpserver.expect_request(
            "/v1/bcdr/device", query_string=DEVICE_QUERY.format(page=number)
        ).respond_with_json(body)

    # when
    run = sync(module)

    # then
    assert run.status == SyncStatus.FAILED
    assert "BCDR devices page 2" in run.error and '"items" list' in run.error
    assert list(ModuleOrganization.objects.values_list("external_id", "name", "active")) == before
    assert usage_of(module) == usage_before


def test_a_device_without_a_whole_agent_count_is_malformed(db, httpserver):
    serve_devices(httpserver, [[device("a1", "Acme Ltd", "6")]])
    source = DattoPartnerSource(
        base_url=httpserver.url_for(""),
        credentials=CREDENTIALS,
        billing_types={"protected_machines"},
    )

    with pytest.raises(SourceError, match=r"page 1 .*device #1 \(a1\): \"agentCount\"") as exc:
        source.fetch_all()
    assert exc.value.permanent


def test_a_wrong_key_is_a_clear_permanent_error_and_the_secret_is_never_logged(
    db, httpserver, caplog
):
    # given
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/v1/saas/domains").respond_with_json(
        {"code": 401, "message": "Unauthorized"}, status=401
    )
    module = configured("saas_protection", httpserver)

    # when
    run = sync(module)

    # then
    assert run.status == SyncStatus.FAILED
    assert "refused the credentials (HTTP 401)" in run.error
    assert "SaaS Protection domains" in run.error
    assert len(httpserver.log) == 1  # permanent: not retried
    for secret in (SECRET_KEY, BASIC.split()[1]):
        assert secret not in caplog.text
        assert secret not in run.error


def test_retries_log_no_secret(db, httpserver, caplog):
    caplog.set_level(logging.DEBUG)
    serve_domains(httpserver, DOMAINS)
    httpserver.expect_oneshot_request("/v1/saas/domains").respond_with_data("down", status=503)
    module = configured("saas_protection", httpserver)

    assert sync(module).status == SyncStatus.SUCCEEDED
    assert "HTTP 503" in caplog.text
    assert SECRET_KEY not in caplog.text and BASIC.split()[1] not in caplog.text


def test_a_credential_without_a_secret_key_fails_before_any_request(db, httpserver):
    source = DattoPartnerSource(
        base_url=httpserver.url_for(""), credentials=PUBLIC_KEY, billing_types={"seats"}
    )

    with pytest.raises(SourceError, match="PUBLIC_KEY:SECRET_KEY") as exc:
        source.fetch_all()
    assert exc.value.permanent and not httpserver.log


def test_endpoint_backup_module_is_refused_with_the_reason(db, httpserver):
    source = DattoPartnerSource(
        base_url=httpserver.url_for(""),
        credentials=CREDENTIALS,
        billing_types={"pcs", "servers", "azure"},
    )

    with pytest.raises(SourceError, match="Endpoint Backup") as exc:
        source.fetch_all()
    assert exc.value.permanent and not httpserver.log


def test_configure_module_with_datto_partner_source_enables_and_syncs(
    db, httpserver, celery_eager, django_capture_on_commit_callbacks
):
    # given
    serve_domains(httpserver, DOMAINS)
    out = io.StringIO()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "configure_module",
            "saas_protection",
            "--source",
            "datto_partner",
            "--base-url",
            httpserver.url_for("/v1"),
            "--token",
            CREDENTIALS,
            "--enable",
            stdout=out,
        )

    # then
    module = KaseyaModule.objects.get(code="saas_protection")
    assert module.source_kind == "datto_partner" and module.credentials == CREDENTIALS
    assert SECRET_KEY not in out.getvalue()
    run = SyncRun.objects.get(module=module)
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert usage_of(module) == {("Integrity Health", "seats"): 19, ("Acme Ltd", "seats"): 30}


def test_source_form_asks_for_both_datto_keys(db):
    module = KaseyaModule.objects.get(code="datto_bcdr")
    data = {"source_kind": "datto_partner", "base_url": "https://api.datto.com/v1"}

    missing = SourceForm({**data, "credentials": ""}, module=module)
    half = SourceForm({**data, "credentials": PUBLIC_KEY}, module=module)
    whole = SourceForm({**data, "credentials": CREDENTIALS}, module=module)

    assert "Enter the API token." in missing.errors["credentials"]
    assert "PUBLIC_KEY:SECRET_KEY" in half.errors["credentials"][0]
    assert whole.is_valid(), whole.errors
