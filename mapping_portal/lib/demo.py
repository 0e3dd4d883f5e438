"""`manage.py seed_demo` asks each app, in dependency order, for its demo data: an app adds a
`demo.py` with `seed(stdout) -> None` (idempotent: running it twice duplicates nothing)."""

from importlib import import_module

DEMO_APPS = ("organizations", "connectors", "qbwc_soap", "kaseya_modules", "billing")


def seed_all(stdout) -> None:
    for app in DEMO_APPS:
        try:
            module = import_module(f"{app}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.demo":
                raise
            continue
        module.seed(stdout)
