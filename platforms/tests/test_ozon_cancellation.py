"""Ozon cancellations against the fake Ozon (real HTTP): live reasons per posting, cancel with
a reason, Ozon's refusals, and what is refused before Ozon is asked."""
import pytest

from platforms.base import StatusUpdate
from platforms.ozon import Ozon, OzonError
from platforms.ozon.cancellation import OzonCancelRefused
from platforms.ozon.fake import FakeOzon
from platforms.testing import ALLOW_LOCAL, FakeStore

CANCEL = "/v2/posting/fbs/cancel"


@pytest.fixture
def ozon():
    with FakeStore() as store:
        fake = FakeOzon(store)
        fake.add_posting(fake.fbs_posting("1000-0001-1", [("SKU-1", 2, "990.00")]))
        fake.add_posting(fake.fbs_posting("1000-0002-1", [("SKU-2", 1, "100.00")], status="delivering"))
        fake.add_posting(fake.fbs_posting("1000-0003-1", [("SKU-1", 1, "990.00")], status="delivered"))
        client = Ozon().client({"api_login": fake.client_id, "api_secret": fake.api_key,
                                "store_url": store.url, **ALLOW_LOCAL})
        yield fake, store, client


def test_reasons_are_read_live_per_posting(ozon):
    fake, store, client = ozon
    reasons = client.cancel_reasons(["1000-0001-1", "1000-0002-1", "1000-0003-1"])
    assert [r["id"] for r in reasons["1000-0001-1"]] == ["352", "400", "402"]
    assert [r["id"] for r in reasons["1000-0002-1"]] == ["665", "666", "667", "402"]
    assert reasons["1000-0003-1"] == []
    assert reasons["1000-0001-1"][0]["title"] == "Product is out of stock"
    assert store.calls("POST", "/v1/posting/fbs/cancel-reason")[0].json() == {
        "related_posting_numbers": ["1000-0001-1", "1000-0002-1", "1000-0003-1"]}


def test_the_whole_reason_list(ozon):
    _fake, _store, client = ozon
    reasons = {r["id"]: r for r in client.cancel_reason_list()}
    assert reasons["402"]["title"] == "Other"
    assert reasons["401"]["available"] is False


def test_cancel_sends_the_reason_and_its_message(ozon):
    fake, store, client = ozon
    answer = client.set_order_status(StatusUpdate("1000-0001-1", "cancelled", reason_code="402",
                                                  reason_text="The buyer asked by phone"))
    assert answer == "status cancelled, reason 402"
    assert store.calls("POST", CANCEL)[0].json() == {
        "posting_number": "1000-0001-1", "cancel_reason_id": 402, "cancel_reason_message": "The buyer asked by phone"}
    assert fake.cancelled["1000-0001-1"] == {"reason_id": 402, "message": "The buyer asked by phone"}
    assert fake.postings["1000-0001-1"]["status"] == "cancelled"


def test_already_cancelled_is_done(ozon):
    fake, store, client = ozon
    fake.cancel_posting("1000-0001-1", 352)
    assert client.cancel(StatusUpdate("1000-0001-1", "cancelled", reason_code="352")) == "already cancelled in Ozon"
    assert len(store.calls("POST", CANCEL)) == 1


@pytest.mark.parametrize("code,text", [("", ""), ("402", ""), ("402", "   "), ("out-of-stock", "")])
def test_what_ozon_would_refuse_is_not_sent(ozon, code, text):
    _fake, store, client = ozon
    with pytest.raises(OzonCancelRefused):
        client.cancel(StatusUpdate("1000-0001-1", "cancelled", reason_code=code, reason_text=text))
    assert not store.calls("POST", CANCEL)


def test_a_reason_the_posting_does_not_allow_is_ozons_refusal(ozon):
    fake, _store, client = ozon
    with pytest.raises(OzonError) as caught:
        client.cancel(StatusUpdate("1000-0002-1", "cancelled", reason_code="352"))
    assert "HAS_INCORRECT_CANCEL_REASON" in str(caught.value)
    assert caught.value.status == 400
    assert fake.postings["1000-0002-1"]["status"] == "delivering"


def test_a_delivered_posting_cannot_be_cancelled(ozon):
    fake, _store, client = ozon
    with pytest.raises(OzonError, match="HAS_INCORRECT_STATUS"):
        client.cancel(StatusUpdate("1000-0003-1", "cancelled", reason_code="352"))
    assert "1000-0003-1" not in fake.cancelled


def test_the_fake_checks_402_itself(ozon):
    """The fake enforces Ozon's rule too: a client that skipped the check would be caught."""
    _fake, store, _client = ozon
    from platforms.http import HttpClient
    http = HttpClient(store.url, headers={"Client-Id": "123456", "Api-Key": "ozon-key"}, **ALLOW_LOCAL)
    with pytest.raises(Exception, match="402"):
        http.request("POST", CANCEL, json={"posting_number": "1000-0001-1", "cancel_reason_id": 402})


def test_unknown_posting_reasons_are_not_found(ozon):
    _fake, _store, client = ozon
    with pytest.raises(OzonError):
        client.cancel_reasons(["9-9"])


def test_a_cancelled_posting_reads_with_its_reason(ozon):
    fake, _store, client = ozon
    fake.cancel_posting("1000-0002-1", 667, after_ship=True)
    order = Ozon().parse(__import__("json").dumps(client.posting("1000-0002-1")).encode()).order
    assert order.status == "cancelled"
    assert order.cancel_reason == "Order was lost by the carrier"
    assert order.cancelled_after_ship is True
