"""A seeded generator of PSA organizations and module organizations with the drift real module
data has, for the suggestions benchmark: every module organization knows the organization it
truly bills to (or None), so precision and recall can be counted.

Organization names are built the way MSP client lists look (surnames, places, industries, legal
forms, accents, initials, "The …", "St. …'s"), with decoys: near-identical organizations ("Summit
Dental" beside "Summit Dental Group"), PSA sites ("X - North Office"), Dead and Cancelation
organizations. Module organizations drift from them by case, punctuation, "&"/"and", legal
suffixes, abbreviations, accents, "The", site suffixes, typos and a dropped word; some are sites
of another module organization, some are internal/test records, clients absent from the PSA, or
clients that are only Dead in the PSA (these three have no true organization).
"""

import random
import re
import unicodedata
from dataclasses import dataclass

SURNAMES = """Smith Johnson Williams Brown Jones Miller Davis Garcia Rodriguez Wilson Martinez
Anderson Taylor Thomas Hernandez Moore Martin Jackson Thompson White Lopez Lee Gonzalez Harris
Clark Lewis Robinson Walker Perez Hall Young Allen Sanchez Wright King Scott Green Baker Adams
Nelson Hill Ramirez Campbell Mitchell Roberts Carter Phillips Evans Turner Torres Parker Collins
Edwards Stewart Flores Morris Nguyen Murphy Rivera Cook Rogers Morgan Peterson Cooper Reed Bailey
Bell Gomez Kelly Howard Ward Cox Diaz Richardson Wood Watson Brooks Bennett Gray James Reyes Cruz
Hughes Price Myers Long Foster Sanders Ross Morales Powell Sullivan Russell Ortiz Jenkins Gutierrez
Perry Butler Barnes Fisher Henderson Coleman Simmons Patterson Jordan Reynolds Hamilton Graham Kim
Gonzales Alexander Ramos Wallace Griffin West Cole Hayes Chavez Gibson Bryant Ellis Stevens Murray
Ford Marshall Owens McDonald Harrison Ruiz Kennedy Wells Alvarez Woods Mendoza Castillo Olson Webb
Washington Tucker Freeman Burns Henry Vasquez Snyder Simpson Crawford Jimenez Porter Mason Shaw
Gordon Wagner Hunter Romero Hicks Dixon Hunt Palmer Robertson Black Holmes Stone Meyer Boyd Mills
Warren Fox Rose Rice Moreno Schmidt Patel Ferguson Nichols Herrera Medina Ryan Fernandez Weaver
Daniels Stephens Gardner Payne Kelley Dunn Pierce Arnold Tran Spencer Peters Hawkins Grant Hansen
Castro Hoffman Hart Elliott Cunningham Knight Bradley""".split()
ACCENTED = """Müller Jiménez Núñez Gómez Béland Côté Lefèvre Søren Ångström Łukasz Böhm Zoë Renée
José Andrés Hélène François Gaëlle Dvořák Kovačević Özdemir""".split()
PLACES = """Summit Pinnacle Lakeside Riverside Harbor Cedar Oak Maple Willow Aspen Sierra Coastal
Valley Highland Prairie Meadow Granite Silver Golden Blue Ridge Evergreen Northstar Redwood
Bayview Hillcrest Brookside Fairview Westfield Eastgate Southpoint Northgate Crescent Horizon
Liberty Heritage Pioneer Frontier Keystone Cornerstone Landmark Beacon Compass Anchor Sterling
Premier Apex Vertex Crown Royal Empire Metro Urban Capital Central Atlantic Pacific Midwest
Gulf Canyon Mesa Desert Coral Pine Spruce Birch Elm Hawthorne Magnolia Juniper Sequoia""".split()
INDUSTRIES = """Dental|Family Dentistry|Orthodontics|Pediatrics|Medical Group|Clinic|Chiropractic|
Veterinary Hospital|Animal Hospital|Pharmacy|Law Group|Law Offices|Legal Services|Accounting|CPAs|
Tax Services|Financial Advisors|Wealth Management|Insurance Agency|Insurance|Realty|Real Estate|
Properties|Property Management|Construction|Builders|Roofing|Plumbing|Electric|HVAC|Landscaping|
Engineering|Architects|Design Studio|Consulting|Logistics|Trucking|Freight|Manufacturing|
Machine Works|Fabrication|Auto Repair|Motors|Bakery|Café|Restaurant Group|Brewing|Catering|
Hotel|Inn|Travel|Marketing|Media|Printing|Staffing|Technologies|Software|Solutions|Systems|
Church|Foundation|Academy|Montessori School|Credit Union|Bank|Title Company|Distributors|
Supply|Wholesale|Imports|Associates|Partners|Holdings|Enterprises|Industries""".replace(
    "\n", ""
).split("|")
LEGAL = ["Inc.", "Inc", "LLC", "L.L.C.", "Ltd", "Ltd.", "Corp.", "Corporation", "Co.", "Company",
         "GmbH", "PLC", "P.C.", "PC", "LLP", "PLLC", "P.A."]  # fmt: skip
SAINTS = ["Mary", "Joseph", "Luke", "Anne", "Paul", "Michael", "Francis", "John", "Jude"]
CITIES = ["Denver", "Boulder", "Austin", "Dallas", "Tampa", "Portland", "Reno", "Tulsa", "Omaha",
          "Fresno", "Boise", "Albany", "Dayton", "Akron", "Eugene", "Salem", "Provo",
          "Tacoma"]  # fmt: skip
SITE_SUFFIXES = [" - {city}", " - {city} Office", " ({city})", " - Main Office", " (HQ)", " HQ",
                 " - Head Office", " - Branch", " - Warehouse", " - Clinic 2"]  # fmt: skip
DECOY_WORDS = ["Group", "Holdings", "Partners", "of {city}", "II", "North", "Services", "& Co"]
INTERNAL = ["_NotBillable_", "Test Company", "TEST - do not bill", "Internal IT", "Sandbox",
            "ZZ Demo Site", "Template Client", "_Internal_", "Training Lab (internal)",
            "Unassigned Devices", "Spare Equipment", "Demo Tenant", "Staging", "Dummy Org",
            "[Archived] Old Client", "In-House Servers", "Test Tenant 2",
            "_Test_Site_"]  # fmt: skip
ABBREVIATE = [("Corporation", "Corp."), ("Associates", "Assoc."), ("International", "Intl"),
              ("Manufacturing", "Mfg."), ("Saint", "St."), ("Company", "Co."),
              ("Technologies", "Tech"), ("Services", "Svcs"), ("Brothers", "Bros."),
              ("Management", "Mgmt"), ("Center", "Ctr")]  # fmt: skip


@dataclass
class GeneratedOrganization:
    autotask_id: int
    name: str
    org_type: str
    parent_autotask_id: int | None = None


@dataclass
class GeneratedModuleOrganization:
    external_id: str
    name: str
    truth: int | None  # the Autotask id it truly bills to
    kind: str  # what the generator made: mappable, site, internal, absent, dead
    parent_external_id: str | None = None
    psa_id: int | None = None


def base_name(rng: random.Random) -> str:
    roll = rng.random()
    surname = rng.choice(ACCENTED) if rng.random() < 0.06 else rng.choice(SURNAMES)
    if roll < 0.30:
        core = f"{surname} {rng.choice(INDUSTRIES)}"
    elif roll < 0.45:
        second = rng.choice(SURNAMES)
        joiner = rng.choice(["&", "and", "&"])
        core = f"{surname} {joiner} {second} {rng.choice(INDUSTRIES)}"
    elif roll < 0.75:
        core = f"{rng.choice(PLACES)} {rng.choice(INDUSTRIES)}"
    elif roll < 0.85:
        core = f"{rng.choice(PLACES)} {rng.choice(PLACES)} {rng.choice(INDUSTRIES)}"
    elif roll < 0.90:
        core = f"The {surname} {rng.choice(['Group', 'Company', 'Agency', 'Collective'])}"
    elif roll < 0.94:
        core = f"St. {rng.choice(SAINTS)}'s {rng.choice(['Church', 'Academy', 'Clinic', 'School'])}"
    elif roll < 0.97:
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTW") for _ in range(rng.choice([2, 3])))
        core = f"{'.'.join(letters)}. {rng.choice(INDUSTRIES)}"
    else:
        core = f"{surname} {rng.choice(['International', 'Manufacturing', 'Associates'])}"
    if rng.random() < 0.55:
        core += (", " if rng.random() < 0.3 else " ") + rng.choice(LEGAL)
    return core


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def typo(rng: random.Random, name: str) -> str:
    words = name.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return name
    i = rng.choice(long_words)
    word = words[i]
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        word = word[:at] + word[at + 1 :]
    elif kind == 1:
        word = word[:at] + rng.choice("aeiounrst") + word[at:]
    elif kind == 2:
        word = word[:at] + rng.choice("aeiounrst") + word[at + 1 :]
    else:
        word = word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    words[i] = word
    return " ".join(words)


def without_legal(name: str) -> str:
    for legal in sorted(LEGAL, key=len, reverse=True):
        for sep in (", ", " "):
            if name.endswith(sep + legal):
                return name[: -len(sep + legal)]
    return name


def drift(rng: random.Random, name: str) -> str:
    """One or two of the drifts module data shows, chosen by how often they occur."""
    kinds = rng.choices(
        ["none", "case", "legal", "punct", "and", "abbrev", "accents", "the", "typo", "drop"],
        weights=[30, 10, 22, 8, 4, 6, 3, 3, 8, 3],
        k=1 if rng.random() < 0.75 else 2,
    )
    for kind in kinds:
        if kind == "case":
            name = rng.choice([name.upper(), name.lower(), name.title()])
        elif kind == "legal":
            bare = without_legal(name)
            name = bare if bare != name or rng.random() < 0.5 else f"{name} {rng.choice(LEGAL)}"
            if bare != name and rng.random() < 0.3:
                name = f"{bare} {rng.choice(LEGAL)}"
        elif kind == "punct":
            name = name.replace(",", "").replace(".", "").replace("'", "")
        elif kind == "and":
            name = name.replace(" & ", " and ") if "&" in name else name.replace(" and ", " & ")
        elif kind == "abbrev":
            for long, short in ABBREVIATE:
                if long in name:
                    name = name.replace(long, short)
                    break
        elif kind == "accents":
            name = strip_accents(name)
        elif kind == "the":
            name = name[4:] if name.startswith("The ") else f"The {name}"
        elif kind == "typo":
            name = typo(rng, name)
        elif kind == "drop":
            bare = without_legal(name).split(" ")
            if len(bare) >= 3:
                name = " ".join(bare[:-1])
    return name


def generate(organizations: int, module_organizations: int, modules: int, seed: int = 20261130):
    """(organizations, {module index: [module organizations]}), deterministic for a seed."""
    rng = random.Random(seed)
    orgs: list[GeneratedOrganization] = []
    names: set[str] = set()
    next_id = 500_000

    def add(name, org_type="customer", parent=None):
        nonlocal next_id
        names.add(name)
        next_id += 1
        orgs.append(GeneratedOrganization(next_id, name, org_type, parent))
        return orgs[-1]

    cores: set[str] = set()

    def core(name):
        # Two PSA companies rarely share a name once its legal form is set aside (decoys do so
        # on purpose); nor is a client absent from the PSA named like one that is there.
        # Every legal form is set aside, not just the last: "The Kim Company Ltd" and "The Kim
        # Company" are one company ("Company" is itself a legal form).
        stripped, bare_name = name, without_legal(name)
        while bare_name != stripped:
            stripped, bare_name = bare_name, without_legal(bare_name)
        bare = " ".join(re.sub(r"[^\w\s]", " ", bare_name.casefold()).split())
        return bare.removeprefix("the ")

    while len(orgs) < organizations:
        name = base_name(rng)
        if name in names or core(name) in cores:
            continue
        cores.add(core(name))
        roll = rng.random()
        org_type = "dead" if roll < 0.05 else "cancelation" if roll < 0.08 else "customer"
        if org_type == "customer" and rng.random() < 0.2:
            org_type = rng.choice(["lead", "prospect", "vendor", "partner"])
        org = add(name, org_type)
        if rng.random() < 0.05:  # a near-identical, distinct organization
            decoy = (
                f"{without_legal(name)} {rng.choice(DECOY_WORDS).format(city=rng.choice(CITIES))}"
            )
            if decoy not in names:
                add(decoy)
        if rng.random() < 0.03:  # a PSA site
            add(
                f"{name} - {rng.choice(['North', 'South', 'East', 'West'])} Office",
                parent=org.autotask_id,
            )
    orgs = orgs[:organizations]
    billable = [o for o in orgs if o.org_type not in ("dead", "cancelation")]
    dead = [o for o in orgs if o.org_type in ("dead", "cancelation")]

    per_module = module_organizations // modules
    result: dict[int, list[GeneratedModuleOrganization]] = {}
    for module in range(modules):
        carries_psa_id = module == 0  # one module is integrated with the PSA for most clients
        items: list[GeneratedModuleOrganization] = []
        serial = 0
        while len(items) < per_module:
            serial += 1
            external_id = f"m{module}-{serial}"
            roll = rng.random()
            if roll < 0.03:
                items.append(
                    GeneratedModuleOrganization(
                        external_id, f"{rng.choice(INTERNAL)} {serial % 7 or ''}".strip(), None,
                        "internal",
                    )
                )  # fmt: skip
                continue
            if roll < 0.08:
                name = base_name(rng)
                if name in names or core(name) in cores:
                    continue
                items.append(
                    GeneratedModuleOrganization(external_id, drift(rng, name), None, "absent")
                )
                continue
            if roll < 0.11:
                target = rng.choice(dead)
                items.append(
                    GeneratedModuleOrganization(external_id, drift(rng, target.name), None, "dead")
                )
                continue
            target = rng.choice(billable)
            psa_id = target.autotask_id if carries_psa_id and rng.random() < 0.6 else None
            name = drift(rng, target.name)
            if rng.random() < 0.06:
                name += rng.choice(SITE_SUFFIXES).format(city=rng.choice(CITIES))
            parent = GeneratedModuleOrganization(
                external_id, name, target.autotask_id, "mappable", psa_id=psa_id
            )
            items.append(parent)
            if rng.random() < 0.12:  # sites of this client in the module
                for number in range(rng.choice([1, 1, 2])):
                    serial += 1
                    city = rng.choice(CITIES)
                    site_name = rng.choice(
                        [f"{name} - {city}", f"{city} Office", f"Site {number + 1}",
                         f"{without_legal(name)} ({city})"]
                    )  # fmt: skip
                    items.append(
                        GeneratedModuleOrganization(
                            f"m{module}-{serial}", site_name, target.autotask_id, "site",
                            parent_external_id=external_id,
                        )
                    )  # fmt: skip
        result[module] = items[:per_module]
        # A site cut off from its parent by the slice keeps no dangling reference.
        kept = {item.external_id for item in result[module]}
        for item in result[module]:
            if item.parent_external_id not in kept:
                item.parent_external_id = None
    return orgs, result
