"""Small display filters shared by every app's templates."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration(value):
    """A timedelta as people read it: "0.4 s", "6.0 s", "2 min 5 s", "1 h 3 min"."""
    if not isinstance(value, timedelta):
        return ""
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
