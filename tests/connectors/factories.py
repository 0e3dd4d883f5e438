import factory

from connectors.models import OrganizationConnectorMapping, WebConnector
from tests.organizations.factories import OrganizationFactory

CONNECTOR_PASSWORD = "correct horse battery staple"


def connector_form_data(**fields) -> dict:
    """What the Add web connector form posts, with `fields` changed."""
    return {
        "name": "Books",
        "username": "books",
        "run_every_minutes": 30,
        "qbxml_version": "13.0",
        "active": "on",
        "company_file": r"C:\QB\Books.QBW",
        **fields,
    }


class WebConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebConnector
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Connector {n}")
    username = factory.Sequence(lambda n: f"qbwc-user-{n}")
    company_file = factory.Sequence(lambda n: rf"C:\QuickBooks\Company{n}.QBW")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or CONNECTOR_PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class MappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationConnectorMapping

    organization = factory.SubFactory(OrganizationFactory)
    connector = factory.SubFactory(WebConnectorFactory)
