"""Three demo web connectors (the first is the default) with known QBWC credentials, and some
mappings."""

from organizations.models import Organization

from .models import OrganizationConnectorMapping, WebConnector
from .services import map_organization

CONNECTORS = [
    ("Main company file", "qbwc-main", "demo-main-password", r"C:\QuickBooks\Acme MSP.QBW"),
    (
        "Managed Services LLC",
        "qbwc-msllc",
        "demo-msllc-password",
        r"C:\QuickBooks\Managed Services LLC.QBW",
    ),
    ("Canada branch", "qbwc-canada", "demo-canada-password", r"C:\QuickBooks\Canada Branch.QBW"),
]


def seed(stdout) -> None:
    connectors = []
    for name, username, password, company_file in CONNECTORS:
        connector = WebConnector.objects.filter(username=username).first()
        if connector is None:
            connector = WebConnector(name=name, username=username, company_file=company_file)
            connector.set_password(password)
            connector.save()
        connectors.append(connector)
    if not OrganizationConnectorMapping.objects.exists():
        billable = list(Organization.objects.billable().order_by("autotask_id"))
        canadian = [o for o in billable if o.country == "Canada"][:12]
        for org in canadian:
            map_organization(org, connectors[2])
        for org in billable[40:55]:
            if org not in canadian:
                map_organization(org, connectors[1])
    stdout.write("Web connectors (QBWC user name / password):")
    for (name, username, password, _), connector in zip(CONNECTORS, connectors, strict=True):
        flag = " [default]" if connector.is_default else ""
        stdout.write(f"  {name}{flag}: {username} / {password}")
