"""The routing rule and every change to it. Views, the SOAP endpoint, reports and scripts call
these; nobody else re-implements the fallback to the default connector."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from organizations.models import Organization
from organizations.terms import current_term

from .models import (
    MappingChange,
    OrganizationConnectorMapping,
    WebConnector,
    company_file_taken,
    same_company_file,
)

ANY = object()  # `expected_connector=ANY`: apply whatever the organization goes to now


class MappingConflict(ValidationError):
    """Someone else changed the organization's mapping since the caller's dialog was rendered.
    `current` is the connector it is mapped to now (None: unmapped, so the default)."""

    def __init__(self, message, current):
        super().__init__(message, code="conflict")
        self.current = current


def connector_for(org: Organization) -> WebConnector | None:
    """The connector an organization is sent to: its mapped connector, else the default
    (None only when no connector exists at all)."""
    mapping = (
        OrganizationConnectorMapping.objects.select_related("connector")
        .filter(organization_id=org.pk)
        .first()
    )
    if mapping is not None:
        return mapping.connector
    return WebConnector.objects.default()


def organizations_for(connector: WebConnector):
    """One queryset: the billable organizations this connector receives. For the default,
    every billable organization with no mapping; for another, the ones mapped to it."""
    billable = Organization.objects.billable()
    if connector.is_default:
        mapped = OrganizationConnectorMapping.objects.filter(organization_id=OuterRef("pk"))
        return billable.filter(~Exists(mapped))
    return billable.filter(connector_mapping__connector_id=connector.pk)


def connectors_for(organization_ids) -> dict[int, WebConnector]:
    """{organization pk: the connector it goes to now} for many organizations at once, by
    organizations_for (so only billable organizations appear): one query per connector, none
    per organization."""
    ids = list(set(organization_ids))
    routes = {}
    if not ids:
        return routes
    for connector in WebConnector.objects.order_by("pk"):
        for pk in organizations_for(connector).filter(pk__in=ids).values_list("pk", flat=True):
            routes[pk] = connector
    return routes


def validate_mapping(org: Organization, connector: WebConnector) -> None:
    """Why `org` may not be mapped to `connector`, as a ValidationError (shared by forms, admin
    and services)."""
    term = current_term()
    errors = {}
    if not org.is_billable:
        errors["organization"] = (
            f"{org.name} is a {org.get_org_type_display()} {term.lower} and cannot be mapped."
        )
    if connector.is_default:
        errors["connector"] = (
            f"{connector.name} is the default web connector: leave the {term.lower} unmapped "
            "to use the default."
        )
    elif not connector.active:
        errors["connector"] = (
            f"{connector.name} is inactive and cannot receive {term.lower_plural}."
        )
    if errors:
        raise ValidationError(errors)


def _record(org, old, new, user, reason=""):
    default = WebConnector.objects.default()
    old = old or default
    new = new or default
    if old == new:
        return None
    return MappingChange.objects.create(
        organization=org,
        old_connector=old,
        new_connector=new,
        old_connector_name=_label(old),
        new_connector_name=_label(new),
        changed_by=user,
        reason=reason,
    )


def _label(connector):
    if connector is None:
        return "(no connector)"
    return f"{connector.name} (default)" if connector.is_default else connector.name


def _check_expected(org, mapping, expected_connector) -> None:
    """Optimistic concurrency: refuse when the organization's mapping is no longer the one the
    caller's page showed (`expected_connector`: a connector, its primary key, or None for
    unmapped)."""
    if expected_connector is ANY:
        return
    current = mapping.connector if mapping else None
    expected_pk = getattr(expected_connector, "pk", expected_connector)
    if expected_pk == (current.pk if current else None):
        return
    if current is None:
        default = WebConnector.objects.default()
        now = "now goes to the default web connector" + (f" ({default.name})" if default else "")
    else:
        now = f"is now mapped to {current.name}"
    raise MappingConflict(
        f"{org.name} was changed by someone else while you were editing: it {now}. "
        "Nothing was saved; review it and try again.",
        current,
    )


@transaction.atomic
def map_organization(
    org: Organization,
    connector: WebConnector,
    user=None,
    *,
    create_only=False,
    expected_connector=ANY,
):
    """Send `org` to `connector` (a non-default, active connector). With create_only, refuse an
    organization that already has a mapping (the dialog offers to edit it instead). With
    expected_connector (the connector the caller's page showed, None for unmapped), a
    MappingConflict when the mapping has changed since."""
    org = Organization.objects.select_for_update().get(pk=org.pk)
    validate_mapping(org, connector)
    mapping = (
        OrganizationConnectorMapping.objects.select_for_update()
        .select_related("connector")
        .filter(organization=org)
        .first()
    )
    _check_expected(org, mapping, expected_connector)
    if mapping is not None and create_only:
        raise ValidationError(
            {
                "organization": f"{org.name} is already mapped to {mapping.connector.name}. "
                "Edit the existing mapping instead."
            },
            code="already_mapped",
        )
    old = mapping.connector if mapping else None
    if mapping is None:
        mapping = OrganizationConnectorMapping(organization=org)
    elif old.pk == connector.pk:
        return mapping
    mapping.connector = connector
    mapping.changed_by = user
    mapping.save()
    _record(org, old, connector, user)
    return mapping


@transaction.atomic
def unmap_organization(
    org: Organization, user=None, *, reason: str = "", expected_connector=ANY
) -> bool:
    """Send `org` back to the default connector. Returns False when it had no mapping. With
    expected_connector, a MappingConflict when the mapping is no longer to that connector."""
    org = Organization.objects.select_for_update().get(pk=org.pk)
    mapping = (
        OrganizationConnectorMapping.objects.select_for_update()
        .select_related("connector")
        .filter(organization_id=org.pk)
        .first()
    )
    _check_expected(org, mapping, expected_connector)
    if mapping is None:
        return False
    old = mapping.connector
    mapping.delete()
    _record(org, old, None, user, reason)
    return True


def default_change_preview(connector: WebConnector) -> dict:
    """What making `connector` the default would do, for the confirmation page."""
    current = WebConnector.objects.default()
    return {
        "current": current,
        "moving": organizations_for(current).count() if current else 0,
        "already_mapped": organizations_for(connector).count(),
    }


@transaction.atomic
def make_default(connector: WebConnector, user=None) -> int:
    """Make `connector` the default. Organizations following the old default now follow the new
    one; mappings to the new default are removed (they would now be explicit mappings to the
    default, which the rule forbids) and recorded. Returns how many organizations moved."""
    connector = WebConnector.objects.select_for_update().get(pk=connector.pk)
    if connector.is_default:
        return 0
    if not connector.active:
        raise ValidationError("An inactive web connector cannot be the default.")
    current = WebConnector.objects.select_for_update().filter(is_default=True).first()
    moving = list(organizations_for(current).values_list("pk", flat=True)) if current else []
    newly_default_mappings = list(
        OrganizationConnectorMapping.objects.filter(connector=connector).select_related(
            "organization"
        )
    )
    OrganizationConnectorMapping.objects.filter(connector=connector).delete()
    if current:
        WebConnector.objects.filter(pk=current.pk).update(is_default=False)
    WebConnector.objects.filter(pk=connector.pk).update(is_default=True)
    connector.is_default = True
    reason = f"{connector.name} became the default web connector"
    if current:
        current.is_default = False
        MappingChange.objects.bulk_create(
            MappingChange(
                organization_id=pk,
                old_connector=current,
                new_connector=connector,
                old_connector_name=f"{current.name} (default)",
                new_connector_name=f"{connector.name} (default)",
                changed_by=user,
                reason=reason,
            )
            for pk in moving
        )
    MappingChange.objects.bulk_create(
        MappingChange(
            organization=mapping.organization,
            old_connector=connector,
            new_connector=connector,
            old_connector_name=connector.name,
            new_connector_name=f"{connector.name} (default)",
            changed_by=user,
            reason=reason + "; mapping no longer needed",
        )
        for mapping in newly_default_mappings
    )
    return len(moving)


def check_connector_deletable(connector: WebConnector) -> None:
    """Refuse deleting the default connector or one that still has mapped organizations."""
    if connector.is_default:
        raise ValidationError(
            f"{connector.name} is the default web connector and cannot be deleted. "
            "Make another connector the default first."
        )
    mapped = list(
        connector.mappings.select_related("organization")
        .order_by("organization__name")
        .values_list("organization__name", flat=True)[:11]
    )
    if mapped:
        term = current_term()
        total = connector.mappings.count()
        names = ", ".join(mapped[:10]) + (f" and {total - 10} more" if total > 10 else "")
        noun = term.lower if total == 1 else term.lower_plural
        raise ValidationError(
            f"{connector.name} still has {total} mapped {noun} ({names}). "
            "Move or remove these mappings first."
        )


def routed_counts() -> dict[int, int]:
    """How many billable organizations each connector receives, in two queries."""
    from django.db.models import Count

    counts = dict(
        OrganizationConnectorMapping.objects.filter(
            organization__in=Organization.objects.billable()
        )
        .values_list("connector_id")
        .annotate(n=Count("pk"))
        .values_list("connector_id", "n")
    )
    default = WebConnector.objects.default()
    if default is not None:
        counts[default.pk] = organizations_for(default).count()
    return counts


def new_connector_password() -> str:
    """A random QBWC password: the admin copies it into the Web Connector once."""
    import secrets

    return secrets.token_urlsafe(18)


@transaction.atomic
def create_connector(form, user=None) -> tuple[WebConnector, str]:
    """Save a new connector from a valid form with a fresh password; returns it and the raw
    password, which is shown once and never stored in the clear."""
    connector = form.save(commit=False)
    raw = new_connector_password()
    connector.set_password(raw)
    connector.save()
    return connector, raw


@transaction.atomic
def reset_connector_password(connector: WebConnector) -> str:
    raw = new_connector_password()
    connector.set_password(raw)
    connector.save(update_fields=["password", "updated_at"])
    return raw


def check_reported_company_file(connector: WebConnector, reported: str) -> str:
    """What QBWC reported as the open company file, checked against `connector`: "" when
    QuickBooks has the connector's company file open, else why nothing may be sent (naming both
    paths). A connector left blank records the path at its first contact, unless another
    connector already names it. A mismatch is kept as the connector's pending path, for an
    admin to accept when the file was moved (accept_company_file)."""
    reported = reported.strip()[:500]
    if not reported:
        return ""
    if connector.company_file:
        if same_company_file(connector.company_file, reported):
            if connector.pending_company_file:
                WebConnector.objects.filter(pk=connector.pk).update(pending_company_file="")
                connector.pending_company_file = ""
            return ""
        WebConnector.objects.filter(pk=connector.pk).update(pending_company_file=reported)
        connector.pending_company_file = reported
        return (
            f"QuickBooks has the company file {reported} open, but web connector "
            f"{connector.name} sends to {connector.company_file}. Nothing was sent. Open "
            f"{connector.company_file} in QuickBooks, or, if the company file was moved, accept "
            "the new path on the web connector's page in the portal."
        )
    other = WebConnector.objects.naming_company_file(reported).exclude(pk=connector.pk).first()
    if other is not None:
        return (
            f"QuickBooks has the company file {reported} open, which web connector {other.name} "
            f"already uses; web connector {connector.name} sent nothing. Associate each web "
            "connector with a different QuickBooks company file."
        )
    WebConnector.objects.filter(pk=connector.pk, company_file="").update(company_file=reported)
    connector.company_file = reported
    return ""


@transaction.atomic
def accept_company_file(connector: WebConnector) -> str:
    """Make the company file QuickBooks last reported (the pending path) the connector's own: a
    company file that was moved or renamed. Returns the accepted path."""
    connector = WebConnector.objects.select_for_update().get(pk=connector.pk)
    path = connector.pending_company_file
    if not path:
        raise ValidationError(f"QuickBooks has not reported another company file for {connector}.")
    other = WebConnector.objects.naming_company_file(path).exclude(pk=connector.pk).first()
    if other is not None:
        raise ValidationError(company_file_taken(other))
    connector.company_file, connector.pending_company_file = path, ""
    connector.save(update_fields=["company_file", "pending_company_file", "updated_at"])
    return path
