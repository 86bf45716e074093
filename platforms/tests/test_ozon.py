"""Ozon postings in: reading FBS, rFBS and FBO postings, the poll's paging and dedup, Ozon's
error shapes and rate limit, and what a push may ask for."""
import json
import pathlib
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from platforms import InvalidPayload, get
from platforms.http import ApiAuthError, ApiError
from platforms.ozon import OzonError, OzonNotFound, ping_answer, push_postings
from platforms.ozon.fake import FakeOzon, rpc_error
from platforms.testing import ALLOW_LOCAL, FakeStore

DATA = pathlib.Path(__file__).parent / "data"
FBS = json.loads((DATA / "ozon_order_fbs.json").read_text())
OZON = get("ozon")


def parse(posting, scheme="fbs"):
    return OZON.parse(json.dumps(dict(posting, sale_inbox_scheme=scheme)).encode()).order


@pytest.fixture
def ozon():
    with FakeStore() as store:
        yield FakeOzon(store)


def client(ozon, now=None, **kwargs):
    options = {"sleep": lambda _s: None, **kwargs}
    if now is not None:
        options["clock"] = lambda: now
    return OZON.client({"api_login": ozon.client_id, "api_secret": ozon.api_key, "store_url": ozon.store.url,
                        **ALLOW_LOCAL}, **options)


# -- reading postings ---------------------------------------------------------------------------

def test_an_fbs_posting_is_read_with_string_prices_and_its_warehouse():
    n = parse(FBS)
    assert (n.external_id, n.number, n.currency, n.status) == ("05708065-0029-1", "05708065-0029-1", "RUB",
                                                               "awaiting_packaging")
    assert [(line.sku, line.quantity, line.unit_price) for line in n.lines] == [("205953", 1, Decimal("1390"))]
    assert n.total == Decimal("1390") and n.taxes_included
    assert (n.fulfilled_by, n.warehouse_ref, n.split_from) == ("", "22000000000001", "")
    assert n.payment.method_code == "ozon" and n.payment.status == "pending" and not n.paid
    assert n.shipping_address.is_empty(), "FBS: Ozon keeps the buyer's address"
    assert n.created_at == "2026-05-13T07:07:32Z"


def test_an_rfbs_posting_gives_the_buyer_and_the_address():
    posting = dict(FBS, customer={"customer_id": 5, "name": "Ivan Petrov", "phone": "",
                                  "address": {"address_tail": "ul. Lenina 1", "city": "Moskva",
                                              "zip_code": "101000", "region": "Moskva", "country": "RU"}},
                   addressee={"name": "Ivan Petrov", "phone": "+79001234567"})
    n = parse(posting)
    address = n.shipping_address
    assert (address.name, address.street, address.city, address.zip, address.country_code, address.phone) == (
        "Ivan Petrov", "ul. Lenina 1", "Moskva", "101000", "RU", "+79001234567")
    assert n.customer.name == "Ivan Petrov"


def test_an_fbo_posting_is_fulfilled_by_the_marketplace(ozon):
    posting = ozon.public(ozon.fbo_posting("3000-0001-1", [("MUG-01", 2, "400.50")], status="delivered"))
    n = parse(posting, "fbo")
    assert (n.fulfilled_by, n.warehouse_ref, n.status) == ("marketplace", "15431806189000", "delivered")
    assert n.total == Decimal("801.00")


def test_split_and_cancellation_fields_are_read():
    posting = dict(FBS, parent_posting_number="05708065-0029-0", status="cancelled",
                   cancellation=dict(FBS["cancellation"], cancel_reason="Buyer changed their mind",
                                     cancelled_after_ship=True))
    n = parse(posting)
    assert n.split_from == "05708065-0029-0"
    assert (n.status, n.cancel_reason, n.cancelled_after_ship) == ("cancelled", "Buyer changed their mind", True)


def test_cancelled_from_split_pending_is_no_cancellation():
    assert parse(dict(FBS, status="cancelled_from_split_pending")).status == "cancelled_from_split_pending"


def test_mixed_currencies_are_refused():
    products = [FBS["products"][0], dict(FBS["products"][0], offer_id="X2", currency_code="USD")]
    with pytest.raises(InvalidPayload, match="mixes currencies"):
        parse(dict(FBS, products=products))


def test_a_price_that_is_no_number_is_refused():
    with pytest.raises(InvalidPayload, match="not a number"):
        parse(dict(FBS, products=[dict(FBS["products"][0], price="12,50 руб")]))


def test_a_posting_without_a_number_is_refused():
    with pytest.raises(InvalidPayload, match="posting_number"):
        parse(dict(FBS, posting_number=""))
    with pytest.raises(InvalidPayload, match="posting_number"):
        parse({k: v for k, v in FBS.items() if k != "posting_number"})


# -- the poll -----------------------------------------------------------------------------------

def test_orders_since_reads_every_page_once_and_completes(ozon):
    # Made a minute ago: the changed list reads up to the poll's whole second.
    ozon.now = lambda: datetime.utcnow() - timedelta(minutes=1)
    for index in range(1500):
        ozon.add_posting(ozon.fbs_posting(f"1000{index:04d}-0001-1", [("MUG-01", 1, "500.00")]))
    ozon.add_posting(ozon.fbo_posting("3000-0001-1", [("MUG-01", 1, "400.00")]))
    api = client(ozon)
    pages = list(api.orders_since((datetime.utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    numbers = [p["posting_number"] for page in pages for p in page]
    assert len(numbers) == 1501 and len(set(numbers)) == 1501, "a posting in two lists comes once"
    schemes = {p["posting_number"]: p["sale_inbox_scheme"] for page in pages for p in page}
    assert schemes["3000-0001-1"] == "fbo" and schemes["10000000-0001-1"] == "fbs"
    assert len(ozon.store.calls("POST", "/v3/posting/fbs/list")) == 2
    assert all(r.json()["limit"] == 1000 for r in ozon.store.calls("POST", "/v3/posting/fbs/list"))
    assert api.complete_up_to is not None


def test_the_changed_list_is_filtered_by_status_change(ozon):
    ozon.add_posting(ozon.fbs_posting("1-1-1", [("MUG-01", 1, "1")]))
    since = datetime.utcnow() - timedelta(minutes=5)
    list(client(ozon).orders_since(since.strftime("%Y-%m-%dT%H:%M:%SZ")))
    body = ozon.store.calls("POST", "/v3/posting/fbs/list")[0].json()
    assert body["filter"]["last_changed_status_date"]["from"].startswith(since.strftime("%Y-%m-%dT%H:%M:%S"))


def test_posting_reads_one_posting_or_none(ozon):
    ozon.add_posting(ozon.fbs_posting("2-2-1", [("MUG-01", 1, "1")]))
    api = client(ozon)
    assert api.posting("2-2-1", "fbs")["sale_inbox_scheme"] == "fbs"
    assert api.posting("2-2-1", "fbo") is None
    assert api.posting("9-9-9", "fbs") is None


def test_an_fbo_posting_is_read_with_the_fbo_methods_own_keys(ozon):
    ozon.add_posting(ozon.fbo_posting("3000-0009-1", [("MUG-01", 1, "1")]))
    assert client(ozon).posting("3000-0009-1", "fbo")["sale_inbox_scheme"] == "fbo"
    sent = ozon.store.calls("POST", "/v2/posting/fbo/get")[0].json()["with"]
    assert set(sent) <= {"analytics_data", "financial_data", "legal_info"}


class MovingOzon(FakeOzon):
    """A posting of the first page changes again while the poll pages on: it leaves the
    changed list, and every later posting moves up one place."""

    def _fbs_list(self, body):
        answer = super()._fbs_list(body)
        if body.get("offset") == 0 and self.postings["1-0000-1"]["status"] != "delivering":
            # Changed after the poll's end: out of the period it reads.
            self.postings["1-0000-1"].update(status="delivering", _changed_at=datetime.utcnow() + timedelta(hours=1))
        return answer


def test_the_changed_list_misses_no_posting_while_postings_move():
    with FakeStore() as store:
        ozon = MovingOzon(store, now=lambda: datetime.utcnow() - timedelta(minutes=1))
        for index in range(25):
            # Packed already: the list of postings to pack does not name them again.
            ozon.add_posting(ozon.fbs_posting(f"1-{index:04d}-1", [("MUG-01", 1, "1")], status="awaiting_deliver"))
        api = client(ozon)
        api.page_size = 10
        since = (datetime.utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        numbers = [p["posting_number"] for page in api.orders_since(since) for p in page]
    assert sorted(numbers) == sorted(ozon.postings), "none skipped"
    assert len(numbers) == len(set(numbers)), "none twice"


def test_fbo_postings_beyond_the_offset_limit_are_read_in_shorter_periods(ozon):
    now = datetime.utcnow().replace(microsecond=0)
    ozon.fbo_max_offset = 20
    for index in range(90):
        created = now - timedelta(hours=index)
        ozon.add_posting(ozon.fbo_posting(f"3-{index:04d}-1", [("MUG-01", 1, "1")],
                                          created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ")))
    api = client(ozon, now=now)
    api.page_size, api.fbo_max_offset = 10, 20
    numbers = [p["posting_number"] for page in api.orders_since(iso_ago(now, hours=1)) for p in page]
    assert sorted(numbers) == sorted(ozon.postings), "every FBO posting of the lookback"
    assert api.complete_up_to == now
    assert all(r.json()["offset"] <= 20 for r in ozon.store.calls("POST", "/v2/posting/fbo/list"))


def test_too_many_fbo_postings_in_a_short_period_fail_the_poll(ozon):
    now = datetime.utcnow().replace(microsecond=0)
    ozon.fbo_max_offset = 20
    for index in range(40):
        ozon.add_posting(ozon.fbo_posting(f"3-{index:04d}-1", [("MUG-01", 1, "1")],
                                          created_at=(now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    api = client(ozon, now=now)
    api.page_size, api.fbo_max_offset = 10, 20
    with pytest.raises(OzonError, match="cannot all be read"):
        list(api.orders_since(iso_ago(now, hours=1)))
    assert api.complete_up_to is None, "the watermark stays"


def iso_ago(now, **delta):
    return (now - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- errors -------------------------------------------------------------------------------------

def test_both_error_shapes_are_read(ozon):
    ozon.store.route("POST", "/v3/posting/fbs/get", status=400, json=rpc_error(3, "INVALID_ARGUMENT"))
    with pytest.raises(OzonError) as caught:
        client(ozon).posting("1-1-1")
    assert (caught.value.code, caught.value.ozon_message) == ("3", "INVALID_ARGUMENT")
    ozon.store.route("POST", "/v3/posting/fbs/get", status=400,
                     json={"error": {"code": "BAD_REQUEST", "message": "posting_number is invalid", "data": []}})
    with pytest.raises(OzonError) as caught:
        client(ozon).posting("1-1-1")
    assert (caught.value.code, caught.value.ozon_message) == ("BAD_REQUEST", "posting_number is invalid")
    ozon.store.route("POST", "/v3/posting/fbs/get", status=400,
                     json={"error": {"code": "NOT_FOUND_ERROR", "message": "POSTING_NOT_FOUND", "data": []}})
    assert client(ozon).posting("1-1-1") is None, "the legacy not-found shape too"
    with pytest.raises(OzonNotFound):
        client(ozon).call("/v3/posting/fbs/get", {"posting_number": "1-1-1"})


def test_a_wrong_key_is_an_authentication_error(ozon):
    api = OZON.client({"api_login": ozon.client_id, "api_secret": "wrong", "store_url": ozon.store.url,
                       **ALLOW_LOCAL})
    with pytest.raises(ApiAuthError):
        api.warehouses()


def test_rate_limit_is_waited_for_then_read(ozon):
    waits = []
    api = client(ozon, sleep=waits.append)
    assert api.warehouses()[0]["ref"] == "22000000000001"
    # The warehouse list takes one request a minute: the second is refused with 429, code 8,
    # and waited for (Retry-After) until the client gives up.
    with pytest.raises(ApiError) as caught:
        api.warehouses()
    assert caught.value.status == 429
    assert waits and all(wait == 1.0 for wait in waits)
    assert json.loads(caught.value.body)["code"] == 8


def test_warehouses_are_listed_with_their_kind(ozon):
    ozon.warehouses.append({"warehouse_id": 22000000000002, "name": "Own delivery", "is_rfbs": True,
                            "status": "disabled"})
    assert client(ozon).warehouses() == [
        {"ref": "22000000000001", "name": "Main FBS", "kind": "fbs", "status": "created"},
        {"ref": "22000000000002", "name": "Own delivery", "kind": "rfbs", "status": "disabled"}]


# -- pushes -------------------------------------------------------------------------------------

def test_push_postings_names_only_the_posting():
    body = json.dumps({"message_type": "TYPE_NEW_POSTING", "posting_number": " 24219509-0020-1 ",
                       "products": [{"sku": 1, "quantity": 2}], "warehouse_id": 1}).encode()
    assert push_postings(body) == [("24219509-0020-1", "")]
    assert OZON.read_push(body) == ("postings", [("24219509-0020-1", "")])


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'"TYPE_NEW_POSTING"', b'{"message_type": "TYPE_PING"}',
    b'{"message_type": "TYPE_NEW_POSTING"}', b'{"message_type": "TYPE_NEW_POSTING", "posting_number": 5}',
    b'{"message_type": "TYPE_NEW_POSTING", "posting_number": "  "}',
    b'{"message_type": "TYPE_NEW_POSTING", "posting_number": "1\\n2"}',
    json.dumps({"message_type": "TYPE_NEW_POSTING", "posting_number": "1" * 101}).encode(),
    b"\xff\xfe", b"[" * 5000,
])
def test_push_postings_refuses_bad_input(body):
    with pytest.raises(InvalidPayload):
        push_postings(body)


def test_read_push_kinds():
    assert OZON.read_push(b'{"message_type": "TYPE_PING", "time": "2026-01-01T00:00:00Z"}') == ("ping", [])
    assert OZON.read_push(b'{"message_type": "TYPE_STOCKS_CHANGED", "items": []}') == ("other", [])
    for bad in (b"{}", b"[1]", b"nope"):
        with pytest.raises(InvalidPayload):
            OZON.read_push(bad)


def test_ping_answer_shape():
    assert ping_answer("2026-01-01T00:00:00Z", "18.0.1") == {"version": "18.0.1", "name": "sale_inbox",
                                                             "time": "2026-01-01T00:00:00Z"}
