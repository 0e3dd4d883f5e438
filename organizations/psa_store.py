"""What the organization sync reads of the stored organizations and how it builds the ones it
writes: the stored rows shaped as Autotask companies (read in one query, alongside the fetch on
PostgreSQL, so an unchanged PSA is settled with one comparison), new organizations ordered so each
parent is stored before its children, and organizations built from companies."""

from dataclasses import dataclass
from operator import itemgetter

from .autotask import PsaCompany
from .models import Organization

# What the PSA says about a company as it is stored: PsaCompany's fields in its order, the parent
# by its Autotask id, so a stored row and a fetched company compare equal when nothing changed.
STORED_SHAPE = tuple("parent__autotask_id" if f == "parent_id" else f for f in PsaCompany._fields)
# The name bulk_update() takes for each of them (the Autotask id never differs: it is the key).
UPDATE_FIELD = tuple("parent" if f == "parent_id" else f for f in PsaCompany._fields)
ACTIVE = PsaCompany._fields.index("active")
autotask_id_of = itemgetter(0)  # of a company or a stored row
_active = itemgetter(ACTIVE)


@dataclass
class StoredOrganizations:
    """Every stored organization as a PsaCompany-shaped tuple (by Autotask id), and how many are
    active: what is needed to recognise an unchanged PSA with one comparison in C."""

    rows: dict[int, tuple]
    active: int

    def matches(self, companies: list[PsaCompany]) -> bool:
        """True when the fetch says exactly what is stored: every company stored as it is (type,
        parent, address, active…) and no active organization left out of the fetch. Equal active
        counts with every fetched company equal to its row leave no active row outside it."""
        if len(self.rows) < len(companies) or sum(map(_active, companies)) != self.active:
            return False
        return list(map(self.rows.get, map(autotask_id_of, companies))) == companies


def read_stored() -> StoredOrganizations:
    """The stored organizations as the PSA would describe them, in one query (run alongside the
    fetch on a connection of its own by run_psa_sync)."""
    rows = list(Organization.objects.order_by().values_list(*STORED_SHAPE))
    return StoredOrganizations(
        dict(zip(map(autotask_id_of, rows), rows, strict=True)), sum(map(_active, rows))
    )


def organization_from(company: PsaCompany, parent_pk, pk=None, updated_at=None) -> Organization:
    """An Organization holding what the PSA says of `company` (its parent by primary key); with
    `pk` and `updated_at`, ready for bulk_update() of a stored one."""
    fields = company._asdict()
    fields["parent_id"] = parent_pk  # the company names its parent by Autotask id
    if updated_at is not None:
        fields["updated_at"] = updated_at
    return Organization(pk=pk, **fields)


def depth_levels(companies: list[PsaCompany], stored: set[int]) -> list[list[PsaCompany]]:
    """`companies` grouped so that each one comes after its parent, when the parent is new too:
    then every new organization gets its parent in its own INSERT. Parents were checked to exist
    and not to loop."""
    by_id = {company.autotask_id: company for company in companies}
    depth: dict[int, int] = {}
    for company in companies:
        chain = []
        node = company
        while node.autotask_id not in depth:
            if node.parent_id is None or node.parent_id in stored:
                depth[node.autotask_id] = 0
                break
            chain.append(node)
            node = by_id[node.parent_id]
        base = depth[node.autotask_id]
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member.autotask_id] = base + offset
    levels: list[list[PsaCompany]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for company in companies:
        levels[depth[company.autotask_id]].append(company)
    return levels
