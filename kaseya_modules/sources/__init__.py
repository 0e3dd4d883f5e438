"""Module API adapters. A new adapter is one module here plus one entry in SOURCES."""

from .base import FetchedOrganization, Source, SourceError
from .datto_partner import DattoPartnerSource
from .datto_rmm import DattoRmmSource
from .feed import FeedSource
from .fixture import FixtureSource

SOURCES: dict[str, type[Source]] = {
    FeedSource.kind: FeedSource,
    DattoRmmSource.kind: DattoRmmSource,
    DattoPartnerSource.kind: DattoPartnerSource,
    FixtureSource.kind: FixtureSource,
}


def source_for(module, progress=None) -> Source:
    """The configured adapter for a KaseyaModule, or SourceError if it has none."""
    if not module.has_source:
        raise SourceError(f"{module.name} has no source configured.", permanent=True)
    try:
        source_class = SOURCES[module.source_kind]
    except KeyError:
        raise SourceError(f"Unknown source kind {module.source_kind!r}.", permanent=True) from None
    return source_class(
        base_url=module.base_url,
        credentials=module.credentials,
        billing_types=module.billing_type_codes(),
        progress=progress,
    )


__all__ = ["SOURCES", "FetchedOrganization", "Source", "SourceError", "source_for"]
