"""The Organization / Web Connector mappings as CSV, and back: an export of where every billable
organization is sent, and an import previewed row by row, then applied all-or-nothing through
map_organization / unmap_organization."""

from django.core.exceptions import ValidationError

from mapping_portal.lib.csv_io import Change, ImportPlan, RowError
from organizations.models import Organization

from . import services
from .models import OrganizationConnectorMapping, WebConnector

HEADER = ["autotask_id", "organization", "type", "connector", "mapping"]
REQUIRED = ("autotask_id", "connector")


def export_rows():
    """One row per billable organization: the connector it is sent to, and whether that is an
    explicit mapping or the default (each connector's organizations come from
    services.organizations_for, so the fallback rule is applied where it lives)."""
    for connector in WebConnector.objects.order_by("-is_default", "name"):
        organizations = services.organizations_for(connector).order_by("name", "pk")
        for org in organizations.iterator(chunk_size=2000):
            yield [
                org.autotask_id,
                org.name,
                org.get_org_type_display(),
                connector.name,
                "default" if connector.is_default else "mapped",
            ]


def plan(rows) -> ImportPlan:
    """What importing `rows` would change: a row naming the default connector (or none) leaves
    the organization on the default; any other connector maps it there."""
    result = ImportPlan()
    connectors = {connector.name.lower(): connector for connector in WebConnector.objects.all()}
    default = next((c for c in connectors.values() if c.is_default), None)
    ids = {int(cells["autotask_id"]) for _, cells in rows if cells["autotask_id"].isdigit()}
    organizations = {
        org.autotask_id: org for org in Organization.objects.filter(autotask_id__in=ids)
    }
    mapped = OrganizationConnectorMapping.objects.filter(
        organization__autotask_id__in=ids
    ).values_list("organization__autotask_id", "connector_id", "connector__name")
    current_ids, current = {}, {}
    for autotask_id, connector_id, connector_name in mapped:
        current_ids[autotask_id], current[autotask_id] = connector_id, connector_name
    seen = {}
    for line, cells in rows:
        try:
            org, target = _plan_row(line, cells, connectors, default, organizations, seen)
        except ValidationError as exc:
            result.refusals.append(RowError(line, " ".join(exc.messages)))
            continue
        mapped_to = current.get(org.autotask_id)
        wanted = None if target is None or target.is_default else target
        if (wanted.name if wanted else None) == mapped_to:
            result.unchanged += 1
            continue
        default_label = f"{default.name} (default)" if default else "the default"
        result.changes.append(
            Change(
                line=line,
                subject=f"{org.name} ({org.autotask_id})",
                before=mapped_to or default_label,
                after=wanted.name if wanted else default_label,
                apply=_applier(org, wanted, current_ids.get(org.autotask_id)),
            )
        )
    return result


def _plan_row(line, cells, connectors, default, organizations, seen):
    raw_id = cells["autotask_id"]
    if not raw_id.isdigit():
        raise ValidationError(f"autotask_id must be a number (not {raw_id!r}).")
    org = organizations.get(int(raw_id))
    if org is None:
        raise ValidationError(f"There is no organization with the Autotask ID {raw_id}.")
    if org.autotask_id in seen:
        raise ValidationError(f"{org.name} is also on line {seen[org.autotask_id]}; list it once.")
    seen[org.autotask_id] = line
    name = cells["connector"]
    if not name:
        return org, default
    target = connectors.get(name.lower())
    if target is None:
        raise ValidationError(f"There is no web connector named {name!r}.")
    if not target.is_default:
        services.validate_mapping(org, target)
    return org, target


def _applier(org, connector, previewed_pk):
    # The connector the preview showed (None: the default) travels with the change, so a mapping
    # changed by someone else meanwhile is refused, never overwritten.
    def apply(user):
        if connector is None:
            services.unmap_organization(
                org, user, reason="CSV import", expected_connector=previewed_pk
            )
        else:
            services.map_organization(org, connector, user, expected_connector=previewed_pk)

    return apply
