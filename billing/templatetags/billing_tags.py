from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def price(value) -> str:
    """A unit price with cents and only the further decimals it has: 3 → "3.00", 0.125 →
    "0.125"."""
    if value is None or value == "":
        return ""
    value = Decimal(value).normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return f"{value:f}"


@register.filter
def quantity(value) -> str:
    """A quantity without trailing zeros: 10.0000 → "10", 2.5000 → "2.5"."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).normalize():f}"
