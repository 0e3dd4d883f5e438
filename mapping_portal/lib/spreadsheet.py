"""Values written to CSV files that people open in a spreadsheet."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """`value` as a CSV cell a spreadsheet will not run as a formula: text starting with
    = + - @ (or a tab or carriage return) gets a leading apostrophe (OWASP's advice). Numbers are
    left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
