"""The PSA's own id carried by module records: Feed v1's optional `psa_id`, Datto RMM's
`autotaskCompanyId`, stored on the module organization by the sync."""

import pytest

from kaseya_modules.models import ModuleOrganization
from kaseya_modules.sources import SourceError
from kaseya_modules.sources.datto_rmm import DattoRmmSource
from kaseya_modules.sources.feed import parse_feed_page

from .conftest import org, serve_feed, sync
from .test_sources import datto_site, serve_datto


def parsed(*organizations):
    items, _ = parse_feed_page(
        {"organizations": list(organizations), "next_cursor": None}, where="page 1",
        billing_types=None,
    )  # fmt: skip
    return items


@pytest.mark.parametrize("value, expected", [(1234, 1234), ("1234", 1234), (None, None)])
def test_feed_psa_id_is_read(value, expected):
    assert parsed({**org("1", "Acme"), "psa_id": value})[0].psa_id == expected


def test_feed_without_psa_id_has_none():
    assert parsed(org("1", "Acme"))[0].psa_id is None


@pytest.mark.parametrize("value", ["abc", -5, 0, True, 1.5, ""])
def test_feed_bad_psa_id_is_a_clear_permanent_error(value):
    with pytest.raises(SourceError, match='"psa_id" must be a positive integer') as caught:
        parsed({**org("1", "Acme"), "psa_id": value})
    assert caught.value.permanent
    assert "'1'" in str(caught.value)


def test_datto_rmm_site_carries_its_autotask_company_id(db, httpserver):
    unlinked = {**datto_site("uid-2", "Globex"), "autotaskCompanyId": ""}
    serve_datto(httpserver, [[datto_site("uid-1", "Acme"), unlinked]])
    source = DattoRmmSource(base_url=httpserver.url_for(""), credentials="datto-access-token")

    sites = {site.external_id: site.psa_id for site in source.fetch_all()}

    assert sites == {"uid-1": 29683001, "uid-2": None}


def test_sync_stores_the_psa_id_and_updates_it_when_it_changes(feed_module, httpserver):
    # given a first sync with a PSA id
    serve_feed(httpserver, [[{**org("1", "Acme"), "psa_id": 11}, org("2", "Globex")]])
    sync(feed_module)
    assert dict(ModuleOrganization.objects.values_list("external_id", "psa_id")) == {
        "1": 11,
        "2": None,
    }

    # when the feed changes only the PSA ids
    serve_feed(
        httpserver, [[{**org("1", "Acme"), "psa_id": 12}, {**org("2", "Globex"), "psa_id": 7}]]
    )
    run = sync(feed_module)

    # then both are updated, and nothing else counts as new
    assert (run.new_count, run.updated_count) == (0, 2)
    assert dict(ModuleOrganization.objects.values_list("external_id", "psa_id")) == {
        "1": 12,
        "2": 7,
    }


def test_unchanged_psa_ids_write_nothing(feed_module, httpserver):
    page = [{**org("1", "Acme"), "psa_id": 11}]
    serve_feed(httpserver, [page])
    sync(feed_module)
    serve_feed(httpserver, [page])

    run = sync(feed_module)

    assert (run.new_count, run.updated_count, run.unchanged_count) == (0, 0, 1)
