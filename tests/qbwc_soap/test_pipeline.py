"""The pipeline of request kinds: a kind plugs in by being listed in KINDS, is asked in dependency
order for the room left in a message, and gets exactly the answers to its own requests.

Pings is a kind made for these tests (the simulator answers its HostQuery requests): it keeps its
progress in the session's kind_state and its counts in the session's counts, as a kind without
columns of its own does."""

import pytest

from qbwc_soap import pipeline
from qbwc_soap.models import QbwcSession
from tests.organizations.factories import OrganizationFactory

# Item queries have their own tests (test_invoice_conversation.py); these start with items read.
pytestmark = pytest.mark.usefixtures("items_already_read")

PINGS = 4


class Pings(pipeline.RequestKind):
    code = "p"
    name = "pings"

    def begin(self, session):
        self.state(session)["left"] = PINGS
        return PINGS

    def finished(self, session):
        return self.state(session).get("left", 0) == 0

    def requests(self, session, room):
        left = self.state(session)["left"]
        first = PINGS - left
        requests = [
            pipeline.Request(f"{first + i}", lambda builder, rid: builder.host_query(rid))
            for i in range(min(room, left))
        ]
        return pipeline.Batch(requests, "z" if len(requests) == left else "")

    def apply(self, session, answers, flags):
        for answer in answers:
            assert answer.response.kind == "HostQueryRs"
            self.state(session)["left"] -= 1
            self.count(session, "answered")
            session.processed += 1
        self.state(session)["last_flags"] = flags

    def summary(self, session):
        answered = self.counted(session, "answered")
        return [pipeline.plural(answered, "ping answered", "pings answered")] if answered else []


class PingsAfterCustomers(Pings):
    after_earlier = True


@pytest.fixture
def kinds(monkeypatch):
    def register(kind_class):
        path = f"{__name__}.{kind_class.__name__}"
        monkeypatch.setattr(pipeline, "KINDS", [*pipeline.KINDS, path])

    return register


def _requests(quickbooks):
    return [[rq.tag for rq in doc.find("QBXMLMsgsRq")] for doc in quickbooks.requests]


def test_a_kind_after_earlier_ones_waits_until_they_are_finished(
    default_connector, converse, quickbooks, settings, kinds
):
    # given three organizations and a kind that needs the customers first, five to a message
    kinds(PingsAfterCustomers)
    settings.QBWC_BATCH_SIZE = 5
    OrganizationFactory.create_batch(3)
    conversation = converse(default_connector, quickbooks)
    # when the session runs
    summary = conversation.run()
    # then the customers went first, alone, and the pings only once their answers were in
    assert _requests(quickbooks) == [["CustomerAddRq"] * 3, ["HostQueryRq"] * 4]
    assert summary == "3 customers added, 0 updated, 4 pings answered, 0 errors"
    session = QbwcSession.objects.get(ticket=conversation.ticket)
    assert session.total == 7 and session.processed == 7
    assert session.counts == {"pings": {"answered": 4}}
    assert session.kind_state["p"] == {"left": 0, "last_flags": "z"}
    assert conversation.progress == [42, 100]


def test_kinds_share_a_message_in_dependency_order(
    default_connector, converse, quickbooks, settings, kinds
):
    # given a kind that does not wait for the customers
    kinds(Pings)
    settings.QBWC_BATCH_SIZE = 5
    OrganizationFactory.create_batch(3)
    # when
    summary = converse(default_connector, quickbooks).run()
    # then each message is filled by the customers first, then by the pings with the room left
    first, second = _requests(quickbooks)
    assert first == ["CustomerAddRq"] * 3 + ["HostQueryRq"] * 2
    assert second == ["HostQueryRq"] * 2
    assert summary == "3 customers added, 0 updated, 4 pings answered, 0 errors"


def test_an_unanswered_request_of_a_kind_counts_as_an_error_for_the_session(
    default_connector, converse, quickbooks, settings, kinds
):
    # given QuickBooks answers no ping of the first message
    kinds(Pings)
    OrganizationFactory()
    real_answer = quickbooks.answer

    def answer(text):
        out = real_answer(text)
        if len(quickbooks.requests) == 1:
            # keep the customer's answer only
            head, _, rest = out.partition("<HostQueryRs")
            out = head + "</QBXMLMsgsRs></QBXML>"
        return out

    quickbooks.answer = answer
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    # when the first message is answered
    conversation.step()
    # then the four pings are errors of this run, and the pings are asked again
    session = QbwcSession.objects.get(ticket=conversation.ticket)
    assert (session.added, session.errors, session.processed) == (1, 4, 5)
    assert session.kind_state["p"]["left"] == PINGS
