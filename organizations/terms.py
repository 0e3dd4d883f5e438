"""The word the portal uses for "organization" — the one place every page, message and button
gets it from (DESIGN.md: rules that live in exactly one place)."""

from dataclasses import dataclass

from .models import TERM_PLURALS, OrganizationTerm, PortalSettings


@dataclass(frozen=True)
class Term:
    singular: str
    plural: str

    @property
    def lower(self) -> str:
        return self.singular.lower()

    @property
    def lower_plural(self) -> str:
        return self.plural.lower()

    @property
    def a(self) -> str:
        """With its indefinite article: "an organization", "a customer"."""
        article = "an" if self.singular[0].lower() in "aeiou" else "a"
        return f"{article} {self.lower}"

    def __str__(self):
        return self.singular


def term_for(value: str) -> Term:
    value = OrganizationTerm(value)
    return Term(singular=value.label, plural=TERM_PLURALS[value])


def current_term(request=None) -> Term:
    """The chosen term, read once per request (cached on the request object)."""
    if request is not None and hasattr(request, "_organization_term"):
        return request._organization_term
    row = PortalSettings.objects.filter(pk=1).values_list("organization_term", flat=True).first()
    term = term_for(row or OrganizationTerm.ORGANIZATION)
    if request is not None:
        request._organization_term = term
    return term
