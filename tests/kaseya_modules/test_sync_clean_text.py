"""Feed data that cannot be stored as text (NUL, other control characters, lone surrogates) or
decoded at all (JSON nested beyond the decoder's depth) fails the run with a message naming the
organization or page, and applies nothing."""

from kaseya_modules.models import SyncStatus

from .conftest import org, serve_feed, sync


def test_a_nul_in_a_name_fails_the_run_naming_the_organization(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "Acme")], [org("2", "Glo\u0000bex"), org("3", "Initech")]])

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert run.error == (
        "Page 2, organization #1 (id '2'): name contains a control character (U+0000); "
        "nothing was applied."
    )
    assert not feed_module.organizations.exists()


def test_a_control_character_in_an_id_is_named_by_the_ids_escaped_form(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "Acme"), org("2\u0001", "Globex")]])

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert run.error.startswith("Page 1, organization #2 (id '2\\x01'): id contains")
    assert not feed_module.organizations.exists()


def test_a_lone_surrogate_in_a_name_fails_the_run_naming_the_organization(feed_module, httpserver):
    # JSON's "\ud800" decodes to a string UTF-8 cannot encode, so no database could store it.
    httpserver.expect_request("/feed/organizations").respond_with_data(
        '{"organizations": [{"id": "7", "name": "Bad \\ud800 name"}], "next_cursor": null}',
        content_type="application/json",
    )

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert "organization #1 (id '7'): name contains a control character (U+D800)" in run.error


def test_deeply_nested_json_fails_the_run_as_malformed(feed_module, httpserver):
    httpserver.expect_request("/feed/organizations").respond_with_data(
        "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert run.error.startswith("Malformed JSON on page 1")
    assert run.error.endswith("nested too deeply to read.")
    assert len(httpserver.log) == 1  # malformed data is not retried


def test_tabs_and_line_breaks_are_not_control_characters_for_names(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "Acme\tCorp\r\nHQ")]])

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert feed_module.organizations.get().name == "Acme\tCorp\r\nHQ"
