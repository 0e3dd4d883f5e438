"""Datto partner API v1 (https://api.datto.com/v1): SaaS Protection and BCDR with one credential,
HTTP Basic "public key:secret key" (docs/datto-partner.md).

One source kind serves several catalog modules; which product a module reads follows from the
billing types the catalog gives it, so the adapter needs nothing but its module's settings:

- `seats` (SaaS Protection): `GET /v1/saas/domains`, a plain array; one organization per
  `saasCustomerId` (a customer may have several domain rows), its `seatsUsed` summed.
- `protected_machines` (Datto BCDR): `GET /v1/bcdr/device?_page=&_perPage=`, paged by
  `pagination.totalPages`; one organization per appliance client name (`clientCompanyName`),
  the `agentCount` of its appliances summed.
"""

import base64
import re
from collections.abc import Iterator
from urllib.parse import urlencode

from .base import FetchedOrganization, Source, SourceError
from .http import Client, get_json

DEVICES_PER_PAGE = 100  # the API's default _perPage (Celerium's client)
SAAS_SEATS = "seats"
BCDR_PROTECTED_MACHINES = "protected_machines"
ENDPOINT_BACKUP_TYPES = {"pcs", "servers", "azure"}


def api_root(base_url: str) -> str:
    """The base URL without the API version: both https://api.datto.com and …/v1 are accepted."""
    base_url = base_url.rstrip("/")
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def client_key(name: str) -> str:
    """BCDR has no customer id, only the client name typed on each appliance: the same customer
    spelled with other case or spacing on two appliances is still one customer."""
    return re.sub(r"\s+", " ", name).strip().casefold()


def key_pair(credentials: str) -> tuple[str, str] | None:
    """(public key, secret key) from the stored "PUBLIC_KEY:SECRET_KEY", or None when either is
    missing (the source form and the adapter share this rule)."""
    public, _, secret = credentials.partition(":")
    if not public.strip() or not secret.strip():
        return None
    return public.strip(), secret.strip()


def whole_number(value, *, where: str, field: str) -> int:
    if type(value) is int and value >= 0:
        return value
    raise SourceError(f'{where}: "{field}" must be a non-negative whole number.', permanent=True)


class DattoPartnerSource(Source):
    kind = "datto_partner"
    label = "Datto partner API v1 (SaaS Protection, BCDR)"

    def auth_headers(self) -> dict[str, str]:
        pair = key_pair(self.credentials)
        if pair is None:
            raise SourceError(
                "The Datto partner API needs the credential as PUBLIC_KEY:SECRET_KEY "
                "(Partner Portal → Admin → Integrations → API Keys).",
                permanent=True,
            )
        basic = base64.b64encode(":".join(pair).encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def product(self) -> str:
        codes = self.billing_types or set()
        if SAAS_SEATS in codes:
            return SAAS_SEATS
        if BCDR_PROTECTED_MACHINES in codes:
            return BCDR_PROTECTED_MACHINES
        if ENDPOINT_BACKUP_TYPES <= codes:
            raise SourceError(
                "The Datto partner API gives no per-customer Endpoint Backup counts "
                "(see docs/datto-partner.md); use the module feed for this module.",
                permanent=True,
            )
        raise SourceError(
            "The Datto partner API source serves modules billed by seats (SaaS Protection) "
            "or protected machines (Datto BCDR); this module has neither billing type.",
            permanent=True,
        )

    def pages(self) -> Iterator[list[FetchedOrganization]]:
        product, headers = self.product(), self.auth_headers()
        self.usage_code = product
        with self.client() as client:  # one keep-alive connection for every request
            if product == SAAS_SEATS:
                yield self._saas_customers(client, headers)
            else:
                yield from self._bcdr_pages(client, headers)

    # --- SaaS Protection ----------------------------------------------------------------------

    def _saas_customers(self, client: Client, headers) -> list[FetchedOrganization]:
        url = f"{api_root(self.base_url)}/v1/saas/domains"
        where = f"SaaS Protection domains ({url})"
        rows = get_json(url, headers=headers, where=where, client=client)
        if not isinstance(rows, list):
            raise SourceError(f"{where}: expected a list of domains.", permanent=True)
        names: dict[str, str] = {}
        seats: dict[str, int] = {}
        for index, row in enumerate(rows, start=1):
            at = f"{where}, domain #{index}"
            if not isinstance(row, dict):
                raise SourceError(f"{at}: expected an object.", permanent=True)
            customer_id = row.get("saasCustomerId")
            if isinstance(customer_id, str) and customer_id.strip().isdigit():
                customer_id = int(customer_id)
            if type(customer_id) is not int:
                raise SourceError(f'{at}: "saasCustomerId" must be a number.', permanent=True)
            name = row.get("saasCustomerName")
            if not isinstance(name, str) or not name.strip():
                raise SourceError(
                    f'{at}: "saasCustomerName" must be a non-empty string.', permanent=True
                )
            key = str(customer_id)
            names.setdefault(key, name.strip()[:255])
            seats[key] = seats.get(key, 0) + whole_number(
                row.get("seatsUsed"), where=at, field="seatsUsed"
            )
        return [
            FetchedOrganization(key, names[key], None, "organization", self._usage(count))
            for key, count in seats.items()
        ]

    # --- BCDR ---------------------------------------------------------------------------------

    def _bcdr_pages(self, client: Client, headers) -> Iterator[list[FetchedOrganization]]:
        """A customer's appliances may sit on any page, so customers are complete only after the
        last page: each earlier page is reported empty (Source.fetch_all still counts it against
        the page cap and the deadline), the last one carries every customer."""
        names: dict[str, str] = {}
        agents: dict[str, int] = {}
        number = 1
        while True:
            query = {
                "_page": number,
                "_perPage": DEVICES_PER_PAGE,
                "showHiddenDevices": 0,
                "showChildResellerDevices": 1,
            }
            url = f"{api_root(self.base_url)}/v1/bcdr/device?{urlencode(query)}"
            where = f"BCDR devices page {number} ({url})"
            data = get_json(url, headers=headers, where=where, client=client)
            devices, total_pages = self._device_page(data, where)
            for index, device in enumerate(devices, start=1):
                self._count_device(device, f"{where}, device #{index}", names, agents)
            if number >= total_pages:
                break
            yield []
            number += 1
        yield [
            FetchedOrganization(key, names[key], None, "organization", self._usage(count))
            for key, count in agents.items()
        ]

    @staticmethod
    def _device_page(data, where: str) -> tuple[list, int]:
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise SourceError(f'{where}: expected an object with an "items" list.', permanent=True)
        pagination = data.get("pagination")
        if not isinstance(pagination, dict):
            raise SourceError(f'{where}: expected a "pagination" object.', permanent=True)
        total_pages = whole_number(
            pagination.get("totalPages"), where=where, field="pagination.totalPages"
        )
        return data["items"], total_pages

    @staticmethod
    def _count_device(device, at: str, names: dict, agents: dict) -> None:
        if not isinstance(device, dict):
            raise SourceError(f"{at}: expected an object.", permanent=True)
        serial = device.get("serialNumber")
        if isinstance(serial, str) and serial:
            at = f"{at} ({serial})"
        if device.get("hidden") is True:  # asked for without hidden ones; never count them
            return
        name = device.get("clientCompanyName")
        if name is None or (isinstance(name, str) and not name.strip()):
            # An appliance not yet assigned to a client bills no one.
            return
        if not isinstance(name, str):
            raise SourceError(f'{at}: "clientCompanyName" must be a string.', permanent=True)
        count = whole_number(device.get("agentCount"), where=at, field="agentCount")
        key = client_key(name)[:255]
        names.setdefault(key, " ".join(name.split())[:255])
        agents[key] = agents.get(key, 0) + count

    def _usage(self, quantity: int) -> dict[str, int]:
        return {self.usage_code: quantity}
