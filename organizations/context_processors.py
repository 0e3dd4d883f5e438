from .terms import current_term


def organization_term(request):
    """`term` in every template: {{ term }}, {{ term.plural }}, {{ term.lower }},
    {{ term.lower_plural }}, {{ term.a }}."""
    return {"term": current_term(request)}
