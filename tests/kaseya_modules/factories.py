import factory

from kaseya_modules.models import KaseyaModule, SourceKind

TOKEN = "good-token-0123456789"


class KaseyaModuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KaseyaModule

    code = factory.Sequence(lambda n: f"test_module_{n}")
    name = factory.Sequence(lambda n: f"Test Module {n}")
    billing_types = [
        {"code": "users", "name": "Users", "unit": "count", "source": "assumed"},
        {"code": "is_enabled", "name": "Is Enabled", "unit": "boolean", "source": "assumed"},
    ]
    source_kind = SourceKind.FEED
    base_url = "http://127.0.0.1:9/feed"
    credentials = TOKEN
