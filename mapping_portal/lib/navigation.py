"""Extension points, so that apps add to shared pages without the page's app importing them.

The left navigation, the organization page's Tools menu and panels, and the links on a web
connector's page are filled from these registries, which each app fills in its AppConfig.ready().
Data flows one way (DESIGN.md): `organizations` never imports `connectors` or `kaseya_modules`.
"""

from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class Link:
    label: str
    url_name: str
    permission: str | None = None
    # The navigation group a link sits in, e.g. ("Extensions & Integrations", "QuickBooks").
    section: tuple[str, ...] = ()
    order: int = 100
    # For links about one object (Tools menu): the name of a property of the object that must be
    # true for the link to be offered, e.g. "is_billable".
    only_if: str | None = None

    def allowed(self, user) -> bool:
        return self.permission is None or user.has_perm(self.permission)

    def applies_to(self, obj) -> bool:
        return self.only_if is None or bool(getattr(obj, self.only_if))

    def url(self, *args) -> str:
        return reverse(self.url_name, args=args)


@dataclass
class Registry:
    links: list[Link] = field(default_factory=list)

    def add(self, link: Link) -> None:
        if link not in self.links:
            self.links.append(link)
            self.links.sort(key=lambda item: (item.section, item.order, item.label))

    def for_user(self, user) -> list[Link]:
        return [link for link in self.links if link.allowed(user)]


@dataclass(frozen=True)
class Panel:
    """A section on a shared page (the organization page, the home dashboard): a template plus
    a function giving its context."""

    template: str
    # callable(request, *subject) -> dict | None (None hides the panel); the organization page
    # passes the organization, the home dashboard nothing.
    context: object
    permission: str | None = None
    order: int = 100


nav_links = Registry()  # left navigation, shown on every page
organization_tools = Registry()  # Tools menu on the organization page; url takes the org pk
connector_links = Registry()  # links on a web connector's page; url takes the connector pk
organization_panels: list[Panel] = []
# Sections on an organization's Mappings page (Manage Integrated Customer Billing), e.g. billing's
# preview of what the organization will be billed: the page's app (kaseya_modules) never imports
# the app that fills it.
organization_mapping_panels: list[Panel] = []
home_panels: list[Panel] = []  # the dashboard after login


def _add_panel(panels: list[Panel], panel: Panel) -> None:
    if panel not in panels:
        panels.append(panel)
        panels.sort(key=lambda item: item.order)


def add_organization_panel(panel: Panel) -> None:
    _add_panel(organization_panels, panel)


def add_organization_mapping_panel(panel: Panel) -> None:
    _add_panel(organization_mapping_panels, panel)


def add_home_panel(panel: Panel) -> None:
    _add_panel(home_panels, panel)


def visible_panels(panels: list[Panel], request, *subject) -> list[dict]:
    """The panels `request.user` may see, each as {"template", "context"}; a panel whose context
    function answers None is left out."""
    shown = []
    for panel in panels:
        if panel.permission and not request.user.has_perm(panel.permission):
            continue
        context = panel.context(request, *subject)
        if context is not None:
            shown.append({"template": panel.template, "context": context})
    return shown


def navigation(request) -> dict:
    """Context processor: the left navigation as a tree of sections (Admin › Admin Categories ›
    …) for base.html, holding only the links the user may open; empty sections are left out."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_tree": {"links": [], "children": []}}
    from organizations.terms import current_term

    term = current_term(request)
    current = request.path
    root = {"title": "", "links": [], "children": [], "_index": {}}
    for link in nav_links.for_user(user):
        try:
            url = link.url()
        except NoReverseMatch:
            continue
        node = root
        for title in link.section:
            title = title.format(term=term)
            if title not in node["_index"]:
                child = {"title": title, "links": [], "children": [], "_index": {}}
                node["_index"][title] = child
                node["children"].append(child)
            node = node["_index"][title]
        node["links"].append(
            {"label": link.label.format(term=term), "url": url, "active": current.startswith(url)}
        )
    return {"nav_tree": root}
