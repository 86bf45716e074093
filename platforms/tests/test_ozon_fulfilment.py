"""Ozon FBS fulfilment against the fake Ozon (real HTTP): "assembled" (/v4/posting/fbs/ship)
and the package labels (/v2/posting/fbs/package-label)."""
from datetime import datetime, timedelta

import pytest

from platforms import get
from platforms.base import StatusUpdate
from platforms.http import ApiAuthError
from platforms.ozon import OzonError, OzonNotFound
from platforms.ozon.fake import FakeOzon
from platforms.ozon.fulfilment import OzonNeedsData
from platforms.testing import ALLOW_LOCAL, FakeStore

SHIP = "/v4/posting/fbs/ship"
LABEL = "/v2/posting/fbs/package-label"


class Clock:
    def __init__(self):
        self.moment = datetime(2026, 11, 20, 10, 0, 0)

    def __call__(self):
        return self.moment


@pytest.fixture
def store():
    with FakeStore() as fake:
        yield fake


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ozon(store, clock):
    return FakeOzon(store, now=clock)


def client_of(ozon, store, **options):
    return get("ozon").client({"api_login": ozon.client_id, "api_secret": ozon.api_key, "store_url": store.url,
                               **ALLOW_LOCAL}, **options)


def packed(ozon, count, prefix="7000"):
    numbers = [f"{prefix}-{index:04d}-1" for index in range(count)]
    for number in numbers:
        ozon.add_posting(ozon.fbs_posting(number, [("MUG-01", 1, "500")], status="awaiting_deliver"))
    return numbers


# -- ship ---------------------------------------------------------------------------------------

def test_ship_packs_every_product_by_its_ozon_sku_in_one_package(ozon, store):
    ozon.add_posting(ozon.fbs_posting("1000-0001-1", [("MUG-01", 2, "500", 358924380), ("TEE-M", 1, "990", 11),
                                                      ("MUG-01", 1, "500", 358924380)]))
    result = client_of(ozon, store).set_order_status(StatusUpdate("1000-0001-1", "awaiting_deliver"))

    assert result == "status awaiting_deliver: posting 1000-0001-1 assembled, one package of 4 item(s)"
    [call] = store.calls("POST", SHIP)
    assert call.json()["posting_number"] == "1000-0001-1"
    # The Ozon SKU, not the seller's article; the same SKU on two lines is one product.
    assert call.json()["packages"] == [{"products": [{"product_id": 358924380, "quantity": 3},
                                                     {"product_id": 11, "quantity": 1}]}]
    assert ozon.postings["1000-0001-1"]["status"] == "awaiting_deliver"


def test_the_fake_refuses_the_sellers_article_as_product_id(ozon, store):
    # What the client must not do: Ozon's own refusal, read as an OzonError.
    ozon.add_posting(ozon.fbs_posting("1000-0002-1", [("MUG-01", 1, "500", 358924380)]))
    with pytest.raises(OzonError, match="UNKNOWN_PRODUCT_DEFINED"):
        client_of(ozon, store).call(SHIP, {"posting_number": "1000-0002-1",
                                           "packages": [{"products": [{"product_id": "MUG-01", "quantity": 1}]}]})
    with pytest.raises(OzonError, match="HAS_INCORRECT_PRODUCT_QUANTITY"):
        client_of(ozon, store).call(SHIP, {"posting_number": "1000-0002-1",
                                           "packages": [{"products": [{"product_id": 358924380, "quantity": 2}]}]})
    assert ozon.postings["1000-0002-1"]["status"] == "awaiting_packaging"


def test_a_posting_needing_exemplar_or_country_data_is_not_shipped_and_says_what_is_missing(ozon, store):
    posting = ozon.fbs_posting("1000-0003-1", [("MUG-01", 1, "500", 111), ("TEE-M", 1, "990", 222)])
    posting["requirements"].update(products_requiring_country=[111], products_requiring_mandatory_mark=[222])
    ozon.add_posting(posting)

    with pytest.raises(OzonNeedsData) as raised:
        client_of(ozon, store).set_order_status(StatusUpdate("1000-0003-1", "awaiting_deliver"))

    message = str(raised.value)
    assert "the country of manufacture for Product MUG-01 (SKU 111, article MUG-01)" in message
    assert "the marking code (Chestny ZNAK) for Product TEE-M (SKU 222, article TEE-M)" in message
    assert "Ozon seller account" in message
    # A refusal (the outbox parks it), and Ozon was not asked to pack.
    assert raised.value.status == 400
    assert not store.calls("POST", SHIP)


def test_ship_is_idempotent(ozon, store):
    ozon.add_posting(ozon.fbs_posting("1000-0004-1", [("MUG-01", 1, "500", 5)]))
    client = client_of(ozon, store)
    client.ship(StatusUpdate("1000-0004-1", "awaiting_deliver"))
    # Packed already (read from the posting): nothing is sent again.
    assert "assembled in Ozon already" in client.ship(StatusUpdate("1000-0004-1", "awaiting_deliver"))
    assert len(store.calls("POST", SHIP)) == 1


def test_posting_already_shipped_from_ozon_counts_as_done(ozon, store):
    # Packed in the seller account between the read and the ship: Ozon's refusal is success.
    ozon.add_posting(ozon.fbs_posting("1000-0005-1", [("MUG-01", 1, "500", 5)]))
    original = ozon._fbs_get

    def stale_get(body):
        status, answer = original(body)
        if status == 200:
            answer["result"]["status"] = "awaiting_packaging"
        return status, answer
    ozon.set_status("1000-0005-1", "awaiting_deliver")
    ozon.store.route("POST", "/v3/posting/fbs/get", handler=ozon._guarded("/v3/posting/fbs/get", stale_get))

    result = client_of(ozon, store).ship(StatusUpdate("1000-0005-1", "awaiting_deliver"))

    assert "assembled in Ozon already" in result
    assert len(store.calls("POST", SHIP)) == 1


def test_ship_errors_are_ozons_own(ozon, store):
    ozon.add_posting(ozon.fbs_posting("1000-0006-1", [("MUG-01", 1, "500", 5)], status="cancelled"))
    client = client_of(ozon, store)
    with pytest.raises(OzonError, match="POSTING_ALREADY_CANCELLED") as raised:
        client.ship(StatusUpdate("1000-0006-1", "awaiting_deliver"))
    assert raised.value.status == 400
    with pytest.raises(OzonNotFound):
        client.ship(StatusUpdate("9999-0000-1", "awaiting_deliver"))
    with pytest.raises(ApiAuthError):
        get("ozon").client({"api_login": ozon.client_id, "api_secret": "wrong", "store_url": store.url,
                            **ALLOW_LOCAL}).ship(StatusUpdate("1000-0006-1", "awaiting_deliver"))


# -- labels -------------------------------------------------------------------------------------

def test_45_postings_take_3_label_requests(ozon, store):
    numbers = packed(ozon, 45)
    labels = client_of(ozon, store).package_labels(numbers)

    calls = store.calls("POST", LABEL)
    assert [len(call.json()["posting_number"]) for call in calls] == [20, 20, 5]
    assert set(labels) == set(numbers)
    assert all(label.pdf.startswith(b"%PDF") and not label.error and not label.not_ready
               for label in labels.values())
    assert labels[numbers[44]].batch == tuple(numbers[40:])
    assert f"Ozon label {numbers[44]}".encode() in labels[numbers[44]].pdf


def test_the_fake_refuses_more_than_20_postings(ozon, store):
    numbers = packed(ozon, 21)
    with pytest.raises(OzonError, match="at most 20"):
        client_of(ozon, store).label_pdf(numbers)


def test_one_failing_posting_is_named_and_the_others_labels_still_come(ozon, store):
    numbers = packed(ozon, 20)
    ozon.set_status(numbers[13], "delivering")

    labels = client_of(ozon, store).package_labels(numbers)

    assert labels[numbers[13]].error and not labels[numbers[13]].pdf
    assert "label not allowed" in labels[numbers[13]].error
    good = [n for n in numbers if n != numbers[13]]
    assert all(labels[n].pdf.startswith(b"%PDF") and not labels[n].error for n in good)
    # Every good posting got its label; halving down to the bad one took 1 + 2 requests per
    # halving (⌈log2 20⌉ = 5 halvings): 11, not 20.
    printed = {n for n in good if f"Ozon label {n}".encode() in labels[n].pdf}
    assert printed == set(good)
    assert len(store.calls("POST", LABEL)) == 11


def test_not_ready_is_a_result_not_an_error(ozon, store, clock):
    ozon.add_posting(ozon.fbs_posting("2000-0001-1", [("MUG-01", 1, "500", 5)]))
    ready = packed(ozon, 2, prefix="2100")
    client = client_of(ozon, store)
    client.ship(StatusUpdate("2000-0001-1", "awaiting_deliver"))

    labels = client.package_labels(["2000-0001-1", *ready])

    assert labels["2000-0001-1"].not_ready and not labels["2000-0001-1"].error
    # Ozon named the posting not ready: the others came at once.
    assert all(labels[n].pdf for n in ready)

    clock.moment += timedelta(seconds=46)
    assert client.package_labels(["2000-0001-1"])["2000-0001-1"].pdf.startswith(b"%PDF")


def test_a_not_ready_answer_naming_no_posting_makes_the_whole_request_wait(ozon, store):
    numbers = packed(ozon, 3, prefix="2200")
    store.route("POST", LABEL, json={"code": 3, "message": "The next postings aren't ready", "details": []},
                status=400)
    labels = client_of(ozon, store).package_labels(numbers)
    assert all(labels[n].not_ready for n in numbers)
    assert len(store.calls("POST", LABEL)) == 1


@pytest.mark.parametrize("label_format", ["pdf", "json"])
def test_both_answer_formats_are_read(ozon, store, label_format):
    ozon.label_format = label_format
    numbers = packed(ozon, 2, prefix="3000")
    labels = client_of(ozon, store).package_labels(numbers)
    assert labels[numbers[0]].pdf.startswith(b"%PDF")
    assert b"Ozon label 3000-0001-1" in labels[numbers[1]].pdf


def test_a_label_answer_that_is_no_pdf_is_a_bad_answer(ozon, store):
    numbers = packed(ozon, 1, prefix="3100")
    store.route("POST", LABEL, status=200, json={"file_content": "bm90IGEgcGRm"})
    with pytest.raises(Exception, match="not a PDF"):
        client_of(ozon, store).package_labels(numbers)
