import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.services import map_organization
from organizations.models import OrganizationType
from qbwc_soap.models import CustomerTransfer, QbwcSession
from qbwc_soap.sessions import UNKNOWN_TICKET_MESSAGE
from tests.connectors.factories import CONNECTOR_PASSWORD, MappingFactory
from tests.organizations.factories import OrganizationFactory

from .simulator import ADD_3250, QuickBooks

# Item queries have their own tests (test_invoice_conversation.py); these start with items read.
pytestmark = pytest.mark.usefixtures("items_already_read")


def names(quickbooks):
    return sorted(c.get("CompanyName") or c["Name"] for c in quickbooks.customers.values())


def requests_of(quickbooks, tag):
    return [rq for doc in quickbooks.requests for rq in doc.find("QBXMLMsgsRq") if rq.tag == tag]


def test_full_session_sends_every_unmapped_billable_organization_to_the_default(
    default_connector, other_connector, converse, quickbooks
):
    # given
    sent = OrganizationFactory.create_batch(3)
    OrganizationFactory(name="Gone Ltd", org_type=OrganizationType.DEAD)
    MappingFactory(connector=other_connector, organization=OrganizationFactory(name="Elsewhere"))
    conversation = converse(default_connector, quickbooks)
    # when
    summary = conversation.run()
    # then
    assert conversation.status == default_connector.company_file
    assert names(quickbooks) == sorted(org.name for org in sent)
    assert summary == "3 customers added, 0 updated, 0 errors"
    assert conversation.progress[-1] == 100
    session = QbwcSession.objects.get(ticket=conversation.ticket)
    assert session.status == QbwcSession.Status.DONE
    assert session.qb_product == "QuickBooks Enterprise Solutions 23.0"
    assert session.qb_version == "33.0"
    assert session.qb_company_name == "Simulated Company"
    assert session.qbxml_version == "13.0"
    transfer = CustomerTransfer.objects.get(organization=sent[0], connector=default_connector)
    assert transfer.list_id == quickbooks.by_name(sent[0].name)["ListID"]
    assert transfer.edit_sequence == quickbooks.by_name(sent[0].name)["EditSequence"]
    assert transfer.transferred_at is not None


def test_other_connector_receives_exactly_its_mapped_organizations(
    default_connector, other_connector, converse, quickbooks
):
    OrganizationFactory.create_batch(2)
    mine = [MappingFactory(connector=other_connector).organization for _ in range(2)]
    assert converse(other_connector, quickbooks).run().startswith("2 customers added")
    assert names(quickbooks) == sorted(org.name for org in mine)


def test_qbxml_version_never_exceeds_what_quickbooks_supports(
    default_connector, converse, quickbooks
):
    OrganizationFactory()
    conversation = converse(default_connector, quickbooks, version=(12, 0))
    conversation.run()
    assert '<?qbxml version="12.0"?>' in conversation.messages[0]


def test_unchanged_organizations_are_not_resent(default_connector, converse, quickbooks):
    OrganizationFactory.create_batch(2)
    converse(default_connector, quickbooks).run()
    again = converse(default_connector, quickbooks)
    assert again.start() == "none"
    assert len(quickbooks.requests) == 1


def test_accented_names_reach_quickbooks_exactly_as_character_references(
    default_connector, converse, quickbooks
):
    org = OrganizationFactory(name="Café Müller Zahnärzte", city="Zürich")
    conversation = converse(default_connector, quickbooks)
    conversation.run()
    assert all(message.isascii() for message in conversation.messages)
    assert "Caf&#233; M&#252;ller Zahn&#228;rzte" in conversation.messages[0]
    assert quickbooks.by_name(org.name)["Name"] == "Café Müller Zahnärzte"
    assert converse(default_connector, quickbooks).start() == "none"


def test_changed_organization_is_modified_with_its_list_id_and_edit_sequence(
    default_connector, converse, quickbooks, organization
):
    converse(default_connector, quickbooks).run()
    organization.city = "Shelbyville"
    organization.save()
    summary = converse(default_connector, quickbooks).run()
    assert summary == "0 customers added, 1 updated, 0 errors"
    [mod] = requests_of(quickbooks, "CustomerModRq")
    customer = quickbooks.by_name(organization.name)
    assert mod.findtext("CustomerMod/ListID") == customer["ListID"]
    assert customer["BillCity"] == "Shelbyville"
    assert len(quickbooks.customers) == 1


def test_remapped_organization_goes_to_its_new_connectors_file_and_old_record_is_kept(
    default_connector, other_connector, converse, organization
):
    main_file, second_file = QuickBooks("Main"), QuickBooks("Second")
    converse(default_connector, main_file).run()
    old = CustomerTransfer.objects.get(organization=organization, connector=default_connector)
    # when
    map_organization(organization, other_connector)
    summary = converse(other_connector, second_file).run()
    # then
    assert summary.startswith("1 customer added")
    assert names(second_file) == [organization.name]
    assert names(main_file) == [organization.name]
    assert CustomerTransfer.objects.get(pk=old.pk).list_id == old.list_id
    assert converse(default_connector, main_file).start() == "none"


def test_status_3100_links_the_existing_customer_with_exactly_that_name(
    default_connector, converse, quickbooks, organization
):
    existing = quickbooks.add_customer(organization.name)
    summary = converse(default_connector, quickbooks).run()
    assert len(quickbooks.customers) == 1
    assert summary == "0 customers added, 1 updated, 1 linked, 0 errors"
    transfer = CustomerTransfer.objects.get(organization=organization)
    assert transfer.list_id == existing["ListID"]
    assert [rq.findtext("FullName") for rq in requests_of(quickbooks, "CustomerQueryRq")] == [
        organization.name
    ]


def test_status_3200_requeries_then_modifies(default_connector, converse, quickbooks, organization):
    converse(default_connector, quickbooks).run()
    customer = quickbooks.by_name(organization.name)
    quickbooks.touch(customer["ListID"])  # someone edited it in QuickBooks meanwhile
    organization.phone = "555-0199"
    organization.save()
    summary = converse(default_connector, quickbooks).run()
    assert summary == "0 customers added, 1 updated, 0 errors"
    assert [rq.findtext("ListID") for rq in requests_of(quickbooks, "CustomerQueryRq")] == [
        customer["ListID"]
    ]
    assert customer["Phone"] == "555-0199"


def test_status_3120_forgets_the_list_id_and_adds(
    default_connector, converse, quickbooks, organization
):
    converse(default_connector, quickbooks).run()
    old_id = quickbooks.by_name(organization.name)["ListID"]
    quickbooks.delete(old_id)
    organization.city = "Capital City"
    organization.save()
    summary = converse(default_connector, quickbooks).run()
    assert summary == "1 customer added, 0 updated, 0 errors"
    transfer = CustomerTransfer.objects.get(organization=organization)
    assert transfer.list_id == quickbooks.by_name(organization.name)["ListID"] != old_id


def test_other_errors_are_recorded_and_the_rest_carries_on(default_connector, converse, quickbooks):
    bad, good = OrganizationFactory(name="Refused Ltd"), OrganizationFactory(name="Fine Ltd")
    quickbooks.fail_names["Refused Ltd"] = ADD_3250
    summary = converse(default_connector, quickbooks).run()
    assert summary == "1 customer added, 0 updated, 1 error"
    transfer = CustomerTransfer.objects.get(organization=bad)
    assert transfer.last_error_code == 3250
    assert "not enabled" in transfer.last_error
    assert transfer.fingerprint == ""
    assert names(quickbooks) == [good.name]
    # then the next session tries the failed one again, and only it
    del quickbooks.fail_names["Refused Ltd"]
    assert converse(default_connector, quickbooks).run().startswith("1 customer added")


def test_name_used_by_another_list_gives_up_with_an_error(
    default_connector, converse, quickbooks, organization
):
    # given a vendor with the name: adding says 3100, but no customer has it
    quickbooks.vendor_names.add(organization.name)
    conversation = converse(default_connector, quickbooks)
    summary = conversation.run(max_steps=20)
    assert summary.endswith("1 error")
    assert conversation.progress[-1] == 100
    assert CustomerTransfer.objects.get(organization=organization).last_error_code == 3100


def test_requests_are_batched_with_a_request_id_each(
    default_connector, converse, quickbooks, settings
):
    settings.QBWC_BATCH_SIZE = 5
    OrganizationFactory.create_batch(12)
    conversation = converse(default_connector, quickbooks)
    conversation.run()
    sizes = [len(doc.find("QBXMLMsgsRq")) for doc in quickbooks.requests]
    assert sizes == [5, 5, 2]
    assert all(0 <= p <= 99 for p in conversation.progress[:-1])
    assert conversation.progress[-1] == 100
    ids = [rq.get("requestID") for doc in quickbooks.requests for rq in doc.find("QBXMLMsgsRq")]
    assert len(set(ids)) == 12


def test_default_batch_size_is_25(default_connector, converse, quickbooks):
    OrganizationFactory.create_batch(26)
    converse(default_connector, quickbooks).run()
    assert [len(doc.find("QBXMLMsgsRq")) for doc in quickbooks.requests] == [25, 1]


def test_over_long_values_are_shortened_and_reported(default_connector, converse, quickbooks):
    long_name = "Springfield Regional Medical Center Department of Cardiology"
    org = OrganizationFactory(name=long_name, address1="A" * 60)
    converse(default_connector, quickbooks).run()
    [customer] = quickbooks.customers.values()
    assert (
        customer["Name"]
        == f"{long_name[: 41 - len(f' #{org.autotask_id}')].rstrip()} #{org.autotask_id}"
    )
    assert len(customer["CompanyName"]) <= 41
    assert customer["Notes"] == f"Full name: {long_name}"
    assert len(customer["BillAddr1"]) == 41
    transfer = CustomerTransfer.objects.get(organization=org)
    assert "Name shortened" in transfer.adjustments
    assert "Addr1 cut to 41" in transfer.adjustments


def test_nothing_to_send_answers_none(default_connector, qbwc):
    ticket, status = qbwc.authenticate(default_connector.username, CONNECTOR_PASSWORD)
    assert status == "none"
    assert len(ticket) >= 22
    assert QbwcSession.objects.get(ticket=ticket).status == QbwcSession.Status.NOTHING


def test_bad_password_answers_nvu_with_two_strings(default_connector, qbwc, organization):
    result = qbwc.authenticate(default_connector.username, "wrong")
    assert len(result) == 2 and result[1] == "nvu"
    assert not QbwcSession.objects.exists()


def test_unknown_user_answers_nvu(db, qbwc):
    assert qbwc.authenticate("nobody-here", "x")[1] == "nvu"


def test_inactive_connector_answers_nvu(default_connector, qbwc, organization):
    default_connector.active = False
    default_connector.save()
    assert qbwc.authenticate(default_connector.username, CONNECTOR_PASSWORD)[1] == "nvu"


def test_tickets_are_random_and_unique(default_connector, qbwc, organization):
    tickets = {
        qbwc.authenticate(default_connector.username, CONNECTOR_PASSWORD)[0] for _ in range(3)
    }
    assert len(tickets) == 3


def test_repeated_failures_are_throttled_and_the_password_never_logged(
    default_connector, qbwc, organization, caplog, settings
):
    caplog.set_level(logging.INFO)
    for _ in range(settings.QBWC_AUTH_FAILURES_PER_USER_ADDRESS):
        assert qbwc.authenticate(default_connector.username, "guess-123")[1] == "nvu"
    # even the right password is refused while throttled
    assert qbwc.authenticate(default_connector.username, CONNECTOR_PASSWORD)[1] == "nvu"
    assert "too many failed attempts" in caplog.text
    assert "guess-123" not in caplog.text
    assert CONNECTOR_PASSWORD not in caplog.text


def test_throttling_from_one_address_is_per_user_name(
    default_connector, other_connector, qbwc, organization, settings
):
    for _ in range(settings.QBWC_AUTH_FAILURES_PER_USER_ADDRESS):
        qbwc.authenticate(default_connector.username, "guess")
    MappingFactory(connector=other_connector)
    assert qbwc.authenticate(other_connector.username, CONNECTOR_PASSWORD)[1] != "nvu"


def test_expired_ticket_ends_politely(default_connector, converse, quickbooks, qbwc, organization):
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    QbwcSession.objects.filter(ticket=conversation.ticket).update(
        last_seen_at=timezone.now() - timedelta(minutes=31)
    )
    assert qbwc.sendRequestXML(conversation.ticket, "", "", "US", 13, 0) == ""
    assert qbwc.getLastError(conversation.ticket) == UNKNOWN_TICKET_MESSAGE
    assert qbwc.receiveResponseXML(conversation.ticket, "<QBXML/>", "", "") < 0
    assert QbwcSession.objects.get(ticket=conversation.ticket).status == "expired"


def test_unknown_ticket_ends_politely(db, qbwc):
    assert qbwc.sendRequestXML("made-up", "", "", "US", 13, 0) == ""
    assert qbwc.getLastError("made-up") == UNKNOWN_TICKET_MESSAGE
    assert qbwc.receiveResponseXML("made-up", "", "", "") < 0
    assert qbwc.closeConnection("made-up") == "Session ended."
    assert qbwc.connectionError("made-up", "0x80040408", "x") == "done"


def test_hresult_failure_returns_negative_and_marks_nothing_transferred(
    default_connector, converse, quickbooks, qbwc, organization
):
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    assert qbwc.sendRequestXML(conversation.ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    message = "QuickBooks found an error when parsing the provided XML text stream."
    assert qbwc.receiveResponseXML(conversation.ticket, "", "0x80040400", message) < 0
    assert message in qbwc.getLastError(conversation.ticket)
    assert "0x80040400" in qbwc.getLastError(conversation.ticket)
    # nothing confirmed: sendRequestXML writes no transfer state, so there is none, or none
    # with a fingerprint (QuickBooks never confirmed anything)
    assert not CustomerTransfer.objects.filter(organization=organization).exclude(fingerprint="")
    session = QbwcSession.objects.get(ticket=conversation.ticket)
    assert session.status == QbwcSession.Status.ERROR
    # the next session sends it again
    assert converse(default_connector, quickbooks).run().startswith("1 customer added")


def test_unreadable_response_returns_negative(
    default_connector, converse, quickbooks, qbwc, organization
):
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    qbwc.sendRequestXML(conversation.ticket, "", "", "US", 13, 0)
    assert qbwc.receiveResponseXML(conversation.ticket, "<QBXML><broken", "", "") < 0
    assert "Could not read" in qbwc.getLastError(conversation.ticket)


def test_connection_error_is_recorded(default_connector, converse, quickbooks, qbwc, organization):
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    answer = qbwc.connectionError(conversation.ticket, "0x80040408", "Could not start QuickBooks.")
    assert answer == "done"
    session = QbwcSession.objects.get(ticket=conversation.ticket)
    assert session.status == QbwcSession.Status.ERROR
    assert "Could not start QuickBooks." in session.last_error
    assert qbwc.getLastError(conversation.ticket) == session.last_error


def test_two_connectors_interleaved_never_cross(
    default_connector, other_connector, converse, settings
):
    settings.QBWC_BATCH_SIZE = 2
    main_orgs = OrganizationFactory.create_batch(5)
    second_orgs = [MappingFactory(connector=other_connector).organization for _ in range(5)]
    main_file, second_file = QuickBooks("Main"), QuickBooks("Second")
    a, b = converse(default_connector, main_file), converse(other_connector, second_file)
    a.start()
    b.start()
    done = set()
    while len(done) < 2:
        for conversation in (a, b):
            if conversation not in done and conversation.step() == 100:
                done.add(conversation)
    assert names(main_file) == sorted(o.name for o in main_orgs)
    assert names(second_file) == sorted(o.name for o in second_orgs)
    assert not CustomerTransfer.objects.filter(
        connector=default_connector, organization__in=second_orgs
    ).exists()


def test_a_ticket_cannot_apply_another_connectors_answers(
    default_connector, other_connector, converse, qbwc
):
    main_org = OrganizationFactory()
    MappingFactory(connector=other_connector)
    main_file, second_file = QuickBooks("Main"), QuickBooks("Second")
    a, b = converse(default_connector, main_file), converse(other_connector, second_file)
    a.start()
    b.start()
    request_a = qbwc.sendRequestXML(a.ticket, "", "", "US", 13, 0)
    qbwc.sendRequestXML(b.ticket, "", "", "US", 13, 0)
    # B's ticket presents A's answer: nothing of A's is applied
    qbwc.receiveResponseXML(b.ticket, main_file.answer(request_a), "", "")
    assert not CustomerTransfer.objects.filter(organization=main_org).exclude(list_id="")


@pytest.mark.parametrize("status", [500, 3120])
def test_requery_finding_nothing_adds_again(
    default_connector, converse, quickbooks, organization, status
):
    # given a customer that QuickBooks changed and then lost between our two requests
    converse(default_connector, quickbooks).run()
    quickbooks.missing_list_id_status = status
    customer = quickbooks.by_name(organization.name)
    quickbooks.touch(customer["ListID"])
    organization.city = "Ogdenville"
    organization.save()
    real_answer = quickbooks.answer

    def answer(text):
        out = real_answer(text)
        if "CustomerModRq" in text:
            quickbooks.delete(customer["ListID"])
        return out

    quickbooks.answer = answer
    summary = converse(default_connector, quickbooks).run()
    assert summary == "1 customer added, 0 updated, 0 errors"
    assert quickbooks.by_name(organization.name)["BillCity"] == "Ogdenville"


def test_follow_up_left_by_a_dead_session_is_resumed_by_the_next(
    default_connector, converse, quickbooks, qbwc, organization
):
    # given QuickBooks answered 3100 and then QBWC went away before the follow-up
    quickbooks.add_customer(organization.name)
    first = converse(default_connector, quickbooks)
    first.start()
    assert first.step() < 100
    # when the next scheduled session runs
    summary = converse(default_connector, quickbooks).run()
    # then it links the existing customer instead of adding a duplicate
    assert summary == "0 customers added, 1 updated, 1 linked, 0 errors"
    assert len(quickbooks.customers) == 1


def test_customer_differing_only_in_case_is_not_linked(
    default_connector, converse, quickbooks, organization
):
    quickbooks.add_customer(organization.name.upper())
    summary = converse(default_connector, quickbooks).run()
    assert summary == "0 customers added, 0 updated, 1 error"
    transfer = CustomerTransfer.objects.get(organization=organization)
    assert transfer.list_id == ""
    assert transfer.last_error_code == 3100
    assert "only in case" in transfer.last_error


def test_send_request_writes_nothing_and_asks_the_same_again(
    default_connector, converse, quickbooks, qbwc, organization
):
    # given a session whose first request was never answered (QBWC asked twice)
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    first = qbwc.sendRequestXML(conversation.ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    second = qbwc.sendRequestXML(conversation.ticket, "", "", "US", 13, 0)
    # then nothing was recorded as sent, and the same batch is asked again
    assert first == second
    assert not CustomerTransfer.objects.exists()
    assert QbwcSession.objects.get(ticket=conversation.ticket).cursor == 0
    # and the answer to it is applied once
    assert qbwc.receiveResponseXML(conversation.ticket, quickbooks.answer(second), "", "") == 100
    assert CustomerTransfer.objects.get(organization=organization).list_id


def test_a_replayed_answer_is_not_applied_twice(default_connector, converse, quickbooks, qbwc):
    # given two batches, the first answered
    OrganizationFactory.create_batch(30)
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    request = qbwc.sendRequestXML(conversation.ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    answer = quickbooks.answer(request)
    assert 0 <= qbwc.receiveResponseXML(conversation.ticket, answer, "", "") < 100
    session = QbwcSession.objects.get(ticket=conversation.ticket)
    # when the same answer is presented again
    assert qbwc.receiveResponseXML(conversation.ticket, answer, "", "") < 0
    # then nothing was counted twice
    replayed = QbwcSession.objects.get(ticket=conversation.ticket)
    assert (replayed.added, replayed.processed) == (session.added, session.processed) == (25, 25)
    assert "none of the requests" in qbwc.getLastError(conversation.ticket)


def test_a_forged_request_id_is_not_applied(
    default_connector, other_connector, converse, quickbooks, qbwc, organization
):
    # given QuickBooks' answer with a requestID naming another connector's organization
    other = MappingFactory(connector=other_connector).organization
    conversation = converse(default_connector, quickbooks)
    conversation.start()
    request = qbwc.sendRequestXML(conversation.ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    answer = quickbooks.answer(request)
    first_id = answer.split('requestID="', 1)[1].split('"', 1)[0]
    # <kind>.<organization pk>_<operation>_<fingerprint>.<header>.<mac> (qbwc_soap.pipeline)
    kind, item, rest = first_id.split(".", 2)
    forged_id = f"{kind}.{other.pk}{item[item.index('_') :]}.{rest}"
    forged = answer.replace(first_id, forged_id, 1)
    assert forged != answer and str(organization.pk) in item
    # when it is presented
    qbwc.receiveResponseXML(conversation.ticket, forged, "", "")
    # then the forged answer marks nothing transferred
    assert not CustomerTransfer.objects.filter(organization=other).exclude(fingerprint="")
    assert not CustomerTransfer.objects.filter(connector=default_connector, organization=other)
