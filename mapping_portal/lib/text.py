"""What counts as clean text, decided in one place. Every boundary that takes text from outside
(module feeds, the CSV import, forms and query strings) asks here, so they all refuse the same
characters with the same wording."""

import re

from django.core.exceptions import ValidationError

# Unicode's control characters (category Cc) other than tab, line feed and carriage return, plus
# lone surrogates and the non-characters U+FFFE/U+FFFF. PostgreSQL refuses NUL in text, UTF-8
# cannot encode a lone surrogate (JSON's "\ud800" decodes to one) and XML 1.0, hence qbXML, allows
# none of the C0 controls; none of them is ever meant as part of a name.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def control_character(value: str) -> str | None:
    """The first control character in `value` as "U+0000", or None when the text is clean."""
    match = CONTROL_CHARACTERS.search(value)
    return None if match is None else f"U+{ord(match.group()):04X}"


def control_character_problem(value: str, what: str) -> str | None:
    """A message naming `what` when `value` holds a control character, else None."""
    found = control_character(value)
    if found is None:
        return None
    return f"{what} contains a control character ({found}); remove it and try again."


def strip_control_characters(value: str) -> str:
    """`value` without control characters: for text of our own making (error messages that
    quote what a server or driver said) that must be stored whatever it holds."""
    return CONTROL_CHARACTERS.sub("", value)


def validate_clean_text(value: str) -> None:
    """Form field validator: refuse text with control characters."""
    if isinstance(value, str) and control_character(value) is not None:
        raise ValidationError(
            "This contains a control character (%(character)s); remove it and try again.",
            code="control_character",
            params={"character": control_character(value)},
        )
