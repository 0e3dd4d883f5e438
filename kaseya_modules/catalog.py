"""The module catalog (catalog.json: modules and their billing types)."""

import json
from pathlib import Path

CATALOG_FILE = Path(__file__).resolve().parent / "catalog.json"


def catalog_entries() -> list[dict]:
    return json.loads(CATALOG_FILE.read_text(encoding="utf-8"))["modules"]


def add_missing_modules(model, using: str = "default") -> int:
    """Create catalog modules that are not in the database (never changes existing rows, so
    admin edits stay). `model` is KaseyaModule, or its historical version in a migration."""
    known = set(model.objects.using(using).values_list("code", flat=True))
    missing = [
        model(code=entry["code"], name=entry["name"], billing_types=entry["billing_types"])
        for entry in catalog_entries()
        if entry["code"] not in known
    ]
    model.objects.using(using).bulk_create(missing)
    return len(missing)


def update_replaced_billing_types(model, using: str = "default") -> int:
    """Give a module its catalog billing types when it still holds exactly a list the catalog has
    since replaced (its "replaces": lists of codes), so a newer catalog reaches existing databases
    while billing types an admin edited stay. `model` as for add_missing_modules."""
    updated = 0
    for entry in catalog_entries():
        replaced = [set(codes) for codes in entry.get("replaces", [])]
        if not replaced:
            continue
        for module in model.objects.using(using).filter(code=entry["code"]):
            codes = {item.get("code") for item in module.billing_types}
            if codes in replaced:
                module.billing_types = entry["billing_types"]
                module.save(using=using, update_fields=["billing_types"])
                updated += 1
    return updated
