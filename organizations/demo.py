"""~200 demo organizations of every type, with the variety real PSA data has: punctuation,
Inc./LLC/Ltd, accents, names longer than QuickBooks' 41 characters, parents and children."""

import random

from .models import Organization, OrganizationType

STEMS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Cyberdyne",
    "Tyrell",
    "Aperture",
    "Massive Dynamic",
    "Gringotts",
    "Oceanic",
    "Monarch",
    "Nakatomi",
    "Pied Piper",
    "Dunder Mifflin",
    "Bluth",
    "Sterling Cooper",
    "Prestige",
    "Krusty",
    "Duff",
    "Oscorp",
    "Wernham Hogg",
    "Los Pollos",
    "Zorg",
    "Gekko",
    "Ollivander",
    "Crédit Mutuel",
    "Müller & Söhne",
    "Société Générale",
    "Café Olé",
    "Zürich Dental",
    "São Paulo Imports",
    "Łódź Logistics",
    "Åkerlund",
    "Ñandú",
    "O'Brien",
    "D'Angelo",
    "Smith & Wesson",
    "Johnson-Baker",
    "A.B.C.",
    "St. Mary's",
    "Dr. Patel's",
    "3M-Style",
    "24/7",
    "Alpha/Omega",
]
INDUSTRIES = [
    "Dental",
    "Law Group",
    "Accounting",
    "Manufacturing",
    "Logistics",
    "Clinic",
    "Realty",
    "Engineering",
    "Insurance",
    "Bakery",
    "Architects",
    "Pharmacy",
    "Construction",
    "Consulting",
]
SUFFIXES = ["Inc.", "LLC", "Ltd", "Corp.", "Co.", "GmbH", "S.A.", "PLC", "", "", "", "LLP"]
LONG_NAMES = [
    "The Very Long Named Regional Medical Associates of Greater Springfield, P.C.",
    "International Brotherhood of Electrical Workers Local Union No. 1234 Benefits Fund",
    "Northwest Consolidated Independent School District Technology Department",
    "Smith, Johnson, Williams, Brown & Jones Attorneys at Law, LLP",
    "Société d'Exploitation des Établissements Hôteliers de la Côte d'Azur",
]
CITIES = [
    ("Springfield", "IL", "62701", "USA"),
    ("Portland", "OR", "97201", "USA"),
    ("Austin", "TX", "78701", "USA"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Manchester", "", "M1 1AE", "United Kingdom"),
    ("München", "BY", "80331", "Germany"),
]
# Mostly customers, as in a real PSA; every type present.
TYPE_WEIGHTS = [
    (OrganizationType.CUSTOMER, 60),
    (OrganizationType.LEAD, 8),
    (OrganizationType.PROSPECT, 8),
    (OrganizationType.VENDOR, 8),
    (OrganizationType.PARTNER, 4),
    (OrganizationType.DEAD, 6),
    (OrganizationType.CANCELATION, 6),
]
FIRST_AUTOTASK_ID = 29683000
# Organizations the demo modules name with a little drift (kaseya_modules/fixtures/demo), so the
# mapping suggestions have something of every kind to show: (Autotask id offset, name, type).
SHOWCASE_OFFSET = 2000
SHOWCASE = [
    (0, "Café Olé Bakery Ltd", OrganizationType.CUSTOMER),
    (1, "Cyberdyne Realty PLC", OrganizationType.CUSTOMER),
    (2, "Acme Corporation", OrganizationType.CUSTOMER),
    (3, "Summit Dental", OrganizationType.CUSTOMER),
    (4, "Summit Dental Group", OrganizationType.CUSTOMER),
    (5, "Initech Consulting, Inc.", OrganizationType.CUSTOMER),
    (6, "Wonka Industries", OrganizationType.DEAD),
    (7, "Nimbus Freight Corporation", OrganizationType.CUSTOMER),
]
STREETS = ["Main", "Oak", "Maple", "Market"]


def demo_organizations(count: int = 200) -> list[dict]:
    rng = random.Random(20261122)
    types = [t for t, w in TYPE_WEIGHTS for _ in range(w)]
    names, rows = set(), []
    candidates = list(LONG_NAMES)
    while len(candidates) < count * 3:
        stem, industry, suffix = rng.choice(STEMS), rng.choice(INDUSTRIES), rng.choice(SUFFIXES)
        candidates.append(" ".join(part for part in (stem, industry, suffix) if part))
    for name in candidates:
        if name in names:
            continue
        names.add(name)
        i = len(rows)
        city, state, postal, country = CITIES[i % len(CITIES)]
        rows.append(
            {
                "autotask_id": FIRST_AUTOTASK_ID + i,
                "name": name,
                "org_type": types[i % len(types)] if i >= len(LONG_NAMES) else "customer",
                "address1": f"{100 + i * 7} {rng.choice(STREETS)} Street",
                "address2": f"Suite {i}" if i % 5 == 0 else "",
                "city": city,
                "state": state,
                "postal_code": postal,
                "country": country,
                "phone": f"+1 555-{i:04d}",
                "email": f"billing{i}@example.com" if i % 3 else "",
            }
        )
        if len(rows) == count:
            break
    # Each of the first ten customers has two locations as child organizations.
    for i in range(10):
        parent = rows[i]
        for loc in ("North", "South"):
            rows.append(
                {
                    **parent,
                    "autotask_id": FIRST_AUTOTASK_ID + 1000 + i * 2 + (loc == "South"),
                    "name": f"{parent['name'][:30]} - {loc} Office",
                    "org_type": "customer",
                    "parent_autotask_id": parent["autotask_id"],
                }
            )
    for offset, name, org_type in SHOWCASE:
        if name in names:  # already drawn above: that one serves
            continue
        i = len(rows)
        city, state, postal, country = CITIES[i % len(CITIES)]
        rows.append(
            {
                "autotask_id": FIRST_AUTOTASK_ID + SHOWCASE_OFFSET + offset,
                "name": name,
                "org_type": org_type,
                "address1": f"{100 + i * 7} Main Street",
                "city": city,
                "state": state,
                "postal_code": postal,
                "country": country,
            }
        )
    return rows


def seed(stdout) -> None:
    rows = demo_organizations()
    existing = set(Organization.objects.values_list("autotask_id", flat=True))
    created = 0
    for row in rows:
        if row["autotask_id"] in existing:
            continue
        parent_id = row.pop("parent_autotask_id", None)
        parent = Organization.objects.get(autotask_id=parent_id) if parent_id else None
        Organization.objects.create(parent=parent, **row)
        created += 1
    stdout.write(f"Organizations: {created} created, {len(rows) - created} already there.")
