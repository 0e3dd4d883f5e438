"""The .qwc file an admin double-clicks into the QuickBooks Web Connector (PROTOCOL.md §4)."""

from urllib.parse import urlsplit

from lxml import etree

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class InsecureSiteURL(ValueError):
    pass


def qbwc_url(site_url: str) -> str:
    """The SOAP endpoint URL for QBWC: SITE_URL + /qbwc/; https unless the host is local."""
    parts = urlsplit(site_url)
    if parts.scheme != "https" and parts.hostname not in LOCAL_HOSTS:
        raise InsecureSiteURL(
            f"The QuickBooks Web Connector only talks to https:// servers (except localhost), "
            f"but SITE_URL is {site_url}. Serve the portal over https and set SITE_URL."
        )
    return site_url.rstrip("/") + "/qbwc/"


def build_qwc(connector, site_url: str) -> bytes:
    app_url = qbwc_url(site_url)
    root = etree.Element("QBWCXML")
    description = f"Sends organizations routed to {connector.name} to QuickBooks"
    fields = [
        ("AppName", f"Mapping Portal ({connector.name})"[:100]),
        ("AppID", ""),
        ("AppURL", app_url),
        ("AppDescription", description[:80]),
        ("AppSupport", site_url.rstrip("/") + "/"),
        ("UserName", connector.username),
        ("OwnerID", connector.owner_id),
        ("FileID", connector.file_id),
        ("QBType", "QBFS"),
    ]
    for tag, text in fields:
        etree.SubElement(root, tag).text = text
    scheduler = etree.SubElement(root, "Scheduler")
    etree.SubElement(scheduler, "RunEveryNMinutes").text = str(connector.run_every_minutes)
    for tag, text in [
        ("IsReadOnly", "false"),
        ("Style", "Document"),
        ("AuthFlags", "0xF"),
        ("PersonalDataPref", "pdpNotNeeded"),
        ("UnattendedModePref", "umpOptional"),
    ]:
        etree.SubElement(root, tag).text = text
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
