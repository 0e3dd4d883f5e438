"""Demo data: Graphus, Passly and Datto RMM enabled on fixture sources and already synced, with
module organization names that differ a little from the organizations' own names — the drift the
mapping pages exist for. A few more are named after fixed demo organizations
(organizations/demo.py SHOWCASE) with the drift mapping suggestions set aside, so suggestions of
every kind show at once: a PSA id, a legal suffix, case, a site suffix, a typo, a near-identical
organization, a Dead organization's name and an internal record.

The shipped templates (fixtures/demo/*.json) hold the structure, kinds, parents and usage; the
names are filled in from the billable organizations in the database and written to
fixtures/rendered/ (git-ignored), which the fixture source then reads like any feed.
"""

import json
import re

from organizations.demo import FIRST_AUTOTASK_ID, SHOWCASE_OFFSET
from organizations.models import Organization

from . import services
from .models import KaseyaModule, SourceKind, SyncTrigger
from .sources.fixture import FIXTURES_DIR

DEMO_MODULES = ("graphus", "passly", "datto_rmm")
LEGAL_SUFFIX = re.compile(r",?\s+(Inc\.?|LLC|Ltd\.?|Corp\.?|Co\.?|GmbH|S\.A\.|PLC|LLP|P\.C\.)$")
ABBREVIATIONS = [
    ("Corporation", "Corp"),
    ("Company", "Co"),
    ("Associates", "Assoc."),
    ("International", "Intl"),
    (" and ", " & "),
    ("Manufacturing", "Mfg"),
]


def vary(name: str, index: int) -> str:
    """A plausible module spelling of an organization's name: suffix dropped, abbreviated, or
    the first word in capitals ("Acme Corporation" → "ACME Corp")."""
    varied = LEGAL_SUFFIX.sub("", name) if index % 2 == 0 else name
    for long, short in ABBREVIATIONS:
        varied = varied.replace(long, short)
    if index % 3 == 0:
        first, _, rest = varied.partition(" ")
        varied = f"{first.upper()} {rest}".strip()
    if varied == name:
        varied = re.sub(r"[.,']", "", name)
    return varied if varied != name else name.upper()


def _entry(external_id, name, usage, *, parent_id=None, kind="organization", psa_id=None):
    entry = {"id": external_id, "name": name, "parent_id": parent_id, "kind": kind, "usage": usage}
    if psa_id is not None:
        entry["psa_id"] = psa_id
    return entry


# Module organizations named after fixed demo organizations (organizations/demo.py SHOWCASE) with
# the drift suggestions set aside; left unmapped for the suggestions to map.
ACME_AUTOTASK_ID = FIRST_AUTOTASK_ID + SHOWCASE_OFFSET + 2  # Acme Corporation
DATTO_USAGE = {"desktop_laptop": 5, "server": 1, "network_device_other": 1}
SHOWCASE = {
    "graphus": [
        _entry("gr-2001", "Café Olé Bakery", {"mailboxes": 9}),
        _entry("gr-2002", "SUMMIT DENTAL", {"mailboxes": 14}),
        _entry("gr-2003", "Front Desk", {"mailboxes": 2}, parent_id="gr-2002", kind="site"),
    ],
    "passly": [
        _entry("pa-2001", "Cyberdyne Realty", {"users": 12}),
        _entry("pa-2002", "Wonka Industries Inc.", {"users": 6}),
        _entry("pa-2003", "_NotBillable_", {"users": 3}),
    ],
    "datto_rmm": [
        _entry("site-z1", "ACME RMM tenant", DATTO_USAGE, psa_id=ACME_AUTOTASK_ID),
        _entry("site-z2", "Nimbus Freight - Denver", DATTO_USAGE, kind="site"),
        _entry("site-z3", "Boulder Lab", DATTO_USAGE, parent_id="site-z1", kind="site"),
        _entry("site-z4", "Initech Consultng", DATTO_USAGE),
    ],
}


def render(code: str, names: list[str]) -> str:
    template = json.loads((FIXTURES_DIR / "demo" / f"{code}.json").read_text(encoding="utf-8"))
    organizations = []
    for entry in template["organizations"]:
        index = entry.pop("org")
        base = names[index % len(names)] if names else f"Demo Customer {index + 1}"
        entry["name"] = entry["name"].replace("{org}", vary(base, index))
        organizations.append(entry)
    organizations += SHOWCASE.get(code, [])
    rendered_dir = FIXTURES_DIR / "rendered"
    rendered_dir.mkdir(exist_ok=True)
    (rendered_dir / f"{code}.json").write_text(
        json.dumps({"organizations": organizations, "next_cursor": None}, indent=1),
        encoding="utf-8",
    )
    return f"rendered/{code}.json"


def seed(stdout) -> None:
    names = list(
        Organization.objects.billable()
        .filter(parent__isnull=True)
        .order_by("autotask_id")
        .values_list("name", flat=True)[:10]
    )
    for code in DEMO_MODULES:
        module = KaseyaModule.objects.get(code=code)
        if not module.waiting_for_first_sync:
            stdout.write(f"Kaseya module {module.name}: already synced.")
            continue
        path = render(code, names)
        services.configure_source(
            module, source_kind=SourceKind.FIXTURE, base_url=path, credentials=None
        )
        services.enable_icb(module, None, queue_sync=False)
        run = services.sync_now(module, SyncTrigger.ENABLEMENT)
        stdout.write(
            f"Kaseya module {module.name}: enabled, synced {run.new_count} module organizations "
            f"({run.get_status_display().lower()})."
        )
    seed_mappings(stdout)
    seed_suggestions(stdout)


def seed_suggestions(stdout) -> None:
    """Compute the demo modules' mapping suggestions afresh (after the demo mappings, which
    sites follow). Replacing them makes this safe to run again."""
    from .suggestion_store import refresh_module
    from .suggestions import OrganizationIndex

    index = OrganizationIndex()
    for module in KaseyaModule.objects.filter(code__in=DEMO_MODULES, icb_enabled=True):
        count = refresh_module(module, index)
        stdout.write(f"Kaseya module {module.code}: suggestions for {count} module organizations.")


DEMO_MAPPINGS_PER_MODULE = 2


def seed_mappings(stdout) -> None:
    """Map a couple of top-level module organizations per demo module to the organization whose
    name starts with the same word, so the mapping pages open with some rows done and most left
    to do. Modules that already have a mapping are left alone (idempotent)."""
    from .mapping import map_module_organization
    from .models import ModuleOrganization

    organizations = list(Organization.objects.billable().filter(parent__isnull=True)[:200])
    by_word = {}
    for organization in organizations:
        by_word.setdefault(organization.name.split()[0].upper().strip(".,"), organization)
    for code in DEMO_MODULES:
        # The showcase entries are left for the suggestions to map.
        candidates = (
            ModuleOrganization.objects.mappable()
            .filter(module__code=code)
            .exclude(external_id__in=[entry["id"] for entry in SHOWCASE.get(code, [])])
        )
        if candidates.filter(organization__isnull=False).exists():
            continue
        mapped = 0
        for module_org in candidates.filter(parent__isnull=True).order_by("name"):
            organization = by_word.get(module_org.name.split()[0].upper().strip(".,"))
            if organization is None:
                continue
            map_module_organization(module_org, organization, None)
            mapped += 1
            if mapped == DEMO_MAPPINGS_PER_MODULE:
                break
        stdout.write(f"Kaseya module {code}: {mapped} demo mappings.")
