import factory

from organizations.models import Organization, OrganizationType


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    autotask_id = factory.Sequence(lambda n: 100000 + n)
    name = factory.Sequence(lambda n: f"Organization {n:05d}")
    org_type = OrganizationType.CUSTOMER
    address1 = factory.Sequence(lambda n: f"{n} Main Street")
    city = "Springfield"
    state = "IL"
    postal_code = "62701"
    country = "USA"
