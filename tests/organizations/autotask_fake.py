"""A loopback Autotask REST API (pytest-httpserver) following the documented shapes: zone lookup,
Companies/entityInformation/fields with the companyType picklist, Companies/query pages of at most
500 with pageDetails.nextPageUrl, and Autotask's error answers (500 with an errors list for a bad
username or integration code, 401 for a wrong secret)."""

import json
from collections import deque
from urllib.parse import quote

from werkzeug import Response

USERNAME = "api@msp.example"
SECRET = "s3cret-Secret-9f2c"
INTEGRATION_CODE = "INTEGRATION-CODE-7Q4Z"
ZONE = "/zone5/ATServicesRest/"
PICKLIST = [
    (1, "Customer"),
    (2, "Lead"),
    (3, "Prospect"),
    (4, "Dead"),
    (6, "Cancelation"),
    (7, "Vendor"),
    (8, "Partner"),
]


def company(company_id, name, company_type=1, **fields):
    """A company item as Autotask answers a query naming IncludeFields: every field it names,
    null when empty."""
    return {
        "id": company_id,
        "companyName": name,
        "companyType": company_type,
        "isActive": True,
        "parentCompanyID": None,
        "address1": None,
        "address2": None,
        "city": None,
        "state": None,
        "postalCode": None,
        "phone": None,
        "taxID": None,
        "isTaxExempt": False,
        "isSample": False,
        "userDefinedFields": [],
        **fields,
    }


def _json(data, status=200, headers=None):
    return Response(
        json.dumps(data), status=status, headers=headers or {}, content_type="application/json"
    )


class FakeAutotask:
    def __init__(self, httpserver, companies=(), *, picklist=PICKLIST):
        self.server = httpserver
        self.companies = list(companies)
        self.picklist = picklist
        self.failures = deque()  # (status, headers, body) answered before the next query pages
        self.queries = []  # the Filter of every Companies/query request
        self.requests = 0  # every request but zoneInformation
        self.tamper = None  # callable(page number, answer dict) that spoils a page
        self.base_url = httpserver.url_for("/ATServicesRest")
        httpserver.expect_request("/ATServicesRest/V1.0/zoneInformation").respond_with_handler(
            self.zone
        )
        httpserver.expect_request(
            f"{ZONE}V1.0/Companies/entityInformation/fields"
        ).respond_with_handler(self.fields)  # noqa: E501
        httpserver.expect_request(
            f"{ZONE}V1.0/Companies/query", method="POST"
        ).respond_with_handler(self.query)  # noqa: E501

    def zone(self, request):
        assert "Secret" not in request.headers
        return _json(
            {
                "zoneName": "America East 5",
                "url": self.server.url_for(ZONE),
                "webUrl": "https://ww5.autotask.net/",
                "ci": 5,
            }
        )

    def refused(self, request):
        if request.headers.get("UserName") != USERNAME:
            return _json({"errors": ["Unable to find user with the UserName provided."]}, 500)
        if request.headers.get("ApiIntegrationCode") != INTEGRATION_CODE:
            return _json({"errors": ["IntegrationCode is invalid."]}, 500)
        if request.headers.get("Secret") != SECRET:
            return Response("", status=401)
        return None

    def fields(self, request):
        self.requests += 1
        refused = self.refused(request)
        if refused is not None:
            return refused
        values = [
            {
                "value": str(value),
                "label": label,
                "isDefaultValue": False,
                "sortOrder": n,
                "parentValue": "",
                "isActive": True,
                "isSystem": True,
            }
            for n, (value, label) in enumerate(self.picklist)
        ]
        return _json(
            {
                "fields": [
                    {"name": "id", "dataType": "long", "isPickList": False, "picklistValues": None},
                    {
                        "name": "companyType",
                        "dataType": "integer",
                        "isPickList": True,
                        "isQueryable": True,
                        "picklistValues": values,
                    },
                ]
            }
        )

    def query(self, request):
        self.requests += 1
        refused = self.refused(request)
        if refused is not None:
            return refused
        if self.failures:
            status, headers, body = self.failures.popleft()
            return Response(body, status=status, headers=headers)
        query = json.loads(request.data)
        self.queries.append(query["Filter"])
        (condition,) = query["Filter"]
        assert (condition["op"], condition["field"]) == ("gt", "id")
        rows = sorted(
            (c for c in self.companies if c["id"] > condition["value"]), key=lambda c: c["id"]
        )
        size = query["MaxRecords"]
        page, more = rows[:size], len(rows) > size
        next_url = None
        if more:
            paging = quote(json.dumps({"pageSize": size, "lastId": page[-1]["id"]}))
            next_url = self.server.url_for(f"{ZONE}V1.0/Companies/query/next?paging={paging}")
        details = {
            "count": len(page),
            "requestCount": size,
            "prevPageUrl": None,
            "nextPageUrl": next_url,
        }
        answer = {"items": page, "pageDetails": details}
        if self.tamper is not None:
            answer = self.tamper(len(self.queries), answer)
        return _json(answer)
