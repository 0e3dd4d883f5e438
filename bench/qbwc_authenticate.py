"""Benchmark: what a QBWC `authenticate` costs the server, the CPU an internet client can spend
per request. Baseline in the same run: a connector whose password is still the PBKDF2 hash Django
makes for human passwords (what every connector had, and what every unknown user name cost)."""

import logging

from bench.common import median_ms, print_table, setup_database


def main() -> None:
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.test import Client

    from connectors.models import WebConnector
    from qbwc_soap import sessions
    from tests.qbwc_soap.soap import envelope, post

    setup_database()
    # Every failed login logs a line; the table is what this prints.
    logging.getLogger("qbwc_soap.sessions").setLevel(logging.ERROR)
    # Failed logins are what is measured, so the throttle must not cut the run short.
    settings.QBWC_AUTH_FAILURES_PER_ADDRESS = settings.QBWC_AUTH_FAILURES_PER_USER_ADDRESS = 10**9
    WebConnector.objects.filter(username__in=["bench-keyed", "bench-pbkdf2"]).delete()
    keyed = WebConnector(name="Bench keyed", username="bench-keyed", company_file=r"C:\K.QBW")
    keyed.set_password("bench-password")
    keyed.save()
    legacy = WebConnector(name="Bench PBKDF2", username="bench-pbkdf2", company_file=r"C:\P.QBW")
    legacy.password = make_password("bench-password")
    legacy.save()
    client = Client()

    def soap(username):
        body = envelope("authenticate", strUserName=username, strPassword="a-wrong-guess")
        return lambda: post(client, body, "authenticate")

    def us(fn, **kwargs):
        return f"{median_ms(fn, **kwargs) * 1000:.1f} µs"

    def ms(fn, **kwargs):
        return f"{median_ms(fn, **kwargs):.2f} ms"

    baseline_check = us(lambda: legacy.check_password("a-wrong-guess"), repeat=9)
    rows = [
        [
            "password check, known name",
            us(lambda: sessions._password_matches(keyed, "a-wrong-guess"), repeat=200),
            baseline_check,
        ],
        [
            "password check, unknown name",
            us(lambda: sessions._password_matches(None, "a-wrong-guess"), repeat=200),
            baseline_check + " (same dummy hash)",
        ],
        [
            "SOAP authenticate, unknown name",
            ms(soap("nobody"), repeat=100),
            "as the known name",
        ],
        [
            "SOAP authenticate, wrong password",
            ms(soap("bench-keyed"), repeat=100),
            ms(soap("bench-pbkdf2"), repeat=9),
        ],
    ]
    print_table(
        "QBWC authenticate, median (baseline: the PBKDF2 hash every check cost before)",
        ["", "keyed HMAC-SHA-256", "PBKDF2 (baseline)"],
        rows,
    )


if __name__ == "__main__":
    main()
