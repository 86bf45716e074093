"""Ozon's money: the finance transactions read in one-month windows and sequential pages,
each kind of operation as a fee operation, the settlement periods in the seller's signs, and
the faults (rate limit, refusals, an HTML page, an operation that cannot be read)."""
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from platforms import get
from platforms.http import ApiAuthError, ApiBadAnswer, ApiRateLimited, RetryPolicy
from platforms.money import FEE_KINDS
from platforms.ozon import OzonError
from platforms.ozon.fake import FakeOzon
from platforms.ozon.fake_finance import CASH_FLOW, FINANCE_LIST
from platforms.ozon.finance import iso_ms, month_windows, read_period
from platforms.testing import ALLOW_LOCAL, FakeStore

OZON = get("ozon")
D = Decimal


@pytest.fixture
def ozon():
    with FakeStore() as store:
        yield FakeOzon(store)


def client(ozon, api_key=None, **kwargs):
    options = {"sleep": lambda _s: None, **kwargs}
    return OZON.client({"api_login": ozon.client_id, "api_secret": ozon.api_key if api_key is None else api_key,
                        "store_url": ozon.store.url, **ALLOW_LOCAL}, **options)


def read_all(finance, date_from, date_to):
    return [operation for page in finance.fees(date_from, date_to) for operation in page]


def windows(ozon):
    return [(r["filter"]["date"]["from"], r["filter"]["date"]["to"], r["page"]) for r in ozon.finance_requests]


# -- windows and pages --------------------------------------------------------------------------

def test_a_month_of_operations_is_read_in_three_pages_one_after_the_other(ozon):
    start = datetime(2026, 1, 1)
    for n in range(2500):
        ozon.service_operation("1.00", at=start + timedelta(minutes=17 * n))
    pages = list(client(ozon).fees(datetime(2026, 1, 1), datetime(2026, 1, 31, 23, 59, 59)))
    assert [len(page) for page in pages] == [1000, 1000, 500]
    assert len({op.ref for page in pages for op in page}) == 2500
    assert windows(ozon) == [("2026-01-01T00:00:00.000Z", "2026-01-31T23:59:59.000Z", page) for page in (1, 2, 3)]
    assert {r["page_size"] for r in ozon.finance_requests} == {1000}
    # One request at a time: Ozon never had to refuse one.
    assert ozon.finance_refused == 0


def test_a_period_over_two_months_is_read_in_one_window_a_month(ozon):
    january = ozon.sale_operation("1-1-1", 100, 10, at=datetime(2026, 1, 20, 12))
    last_second = ozon.service_operation("2.00", at=datetime(2026, 1, 31, 23, 59, 59))
    midnight = ozon.service_operation("3.00", at=datetime(2026, 2, 1, 0, 0, 0))
    february = ozon.service_operation("4.00", at=datetime(2026, 2, 10))
    read = read_all(client(ozon), datetime(2026, 1, 15, 8), datetime(2026, 2, 20))
    assert windows(ozon) == [("2026-01-15T08:00:00.000Z", "2026-01-31T23:59:59.999Z", 1),
                             ("2026-02-01T00:00:00.000Z", "2026-02-20T00:00:00.000Z", 1)]
    # The operations at the edge between the two windows are read once each.
    assert sorted(op.ref for op in read) == sorted(str(o["operation_id"])
                                                   for o in (january, last_second, midnight, february))


def test_the_fake_refuses_more_than_a_month_and_the_client_never_asks_it(ozon):
    finance = client(ozon)
    with pytest.raises(OzonError) as refused:
        finance.call(FINANCE_LIST, {"filter": {"date": {"from": "2026-01-01T00:00:00.000Z",
                                                        "to": "2026-02-02T00:00:00.000Z"}},
                                    "page": 1, "page_size": 1000})
    assert refused.value.status == 400 and "one month" in str(refused.value)
    with pytest.raises(OzonError):
        finance.call(FINANCE_LIST, {"filter": {"date": {"from": "2026-01-01T00:00:00.000Z",
                                                        "to": "2026-01-02T00:00:00.000Z"}},
                                    "page": 0, "page_size": 1000})
    # Fourteen months across a year end: every request stays within one calendar month.
    list(finance.fees(datetime(2025, 1, 10), datetime(2026, 3, 5)))
    assert len(ozon.finance_requests) == 15
    for start, end, _page in windows(ozon):
        assert start[:7] == end[:7]


@pytest.mark.parametrize(("date_from", "date_to", "ends"), [
    (datetime(2026, 4, 3), datetime(2026, 5, 31, 23, 59), ["2026-04-30", "2026-05-31"]),  # 30 and 31 days
    (datetime(2024, 2, 1), datetime(2024, 3, 1), ["2024-02-29", "2024-03-01"]),  # a leap February
    (datetime(2026, 2, 1), datetime(2026, 3, 1), ["2026-02-28", "2026-03-01"]),
    (datetime(2025, 12, 15), datetime(2026, 1, 10), ["2025-12-31", "2026-01-10"]),  # across a year end
])
def test_windows_are_cut_at_month_ends_without_a_gap(date_from, date_to, ends):
    cut = list(month_windows(date_from, date_to))
    assert [end.date().isoformat() for _start, end in cut] == ends
    assert cut[0][0] == date_from and cut[-1][1] == date_to
    for (_start, end), (following, _end) in zip(cut, cut[1:], strict=False):
        assert iso_ms(end).endswith("T23:59:59.999Z") and following == end.replace(
            hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert list(month_windows(date_to, date_from)) == []


def test_an_empty_month_is_one_empty_page(ozon):
    assert list(client(ozon).fees(datetime(2026, 3, 1), datetime(2026, 3, 31))) == [[]]
    assert len(ozon.finance_requests) == 1


# -- each kind of operation ------------------------------------------------------------------------

def test_each_kind_of_operation_is_read_in_the_sellers_signs(ozon):
    at = datetime(2026, 3, 2, 9, 30)
    sale = ozon.sale_operation("5000-0001-1", "1000.00", "150.00", logistics="63.00", at=at)
    returned = ozon.return_operation("5000-0002-1", "211.00", commission_back="48.32", return_delivery="12.00",
                                     at=at + timedelta(hours=1))
    charge = ozon.charge_operation("5000-0003-1", "25.50", at=at + timedelta(hours=2))
    acquiring = ozon.charge_operation("5000-0003-1", "2.16", at=at + timedelta(hours=3), name="Оплата эквайринга",
                                      operation_type="MarketplaceRedistributionOfAcquiringOperation")
    storage = ozon.service_operation("75.09", at=at + timedelta(hours=4))
    compensation = ozon.add_operation("MarketplaceSellerCompensationOperation", "241.97", kind="compensation",
                                      name="Прочие компенсации", at=at + timedelta(hours=5))
    read = {op.ref: op for op in read_all(client(ozon), datetime(2026, 3, 1), datetime(2026, 3, 31))}

    def fields(operation):
        op = read[str(operation["operation_id"])]
        assert op.amount == op.sale_amount + op.commission_amount + op.delivery_amount + op.services_amount
        assert op.kind in FEE_KINDS and op.currency == ""
        return (op.kind, op.order_ref, op.amount, op.sale_amount, op.commission_amount, op.delivery_amount,
                op.services_amount)

    assert fields(sale) == ("sale", "5000-0001-1", D("787.00"), D("1000.00"), D("-150.00"), D("-63.00"), 0)
    sold = read[str(sale["operation_id"])]
    assert (sold.date, sold.operation_type, sold.name) == (at, "OperationAgentDeliveredToCustomer",
                                                           "Sale: Delivered to the Buyer")
    assert sold.charges == D("-213.00")
    assert fields(returned) == ("return", "5000-0002-1", D("-174.68"), D("-211.00"), D("48.32"), D("-12.00"), 0)
    assert fields(charge) == ("order_charge", "5000-0003-1", D("-25.50"), 0, 0, D("-25.50"), 0)
    # Acquiring is no logistics: a service charged on the order.
    assert fields(acquiring) == ("order_charge", "5000-0003-1", D("-2.16"), 0, 0, 0, D("-2.16"))
    assert fields(storage) == ("service", "", D("-75.09"), 0, 0, 0, D("-75.09"))
    assert fields(compensation) == ("compensation", "", D("241.97"), 0, 0, 0, D("241.97"))


def test_charges_sent_as_positive_amounts_are_read_as_charges(ozon):
    """Ozon's convention is the seller's in every example; an answer whose parts only add up
    to its total with the commission and services turned is read turned, not as credits."""
    turned = ozon.add_operation("OperationAgentDeliveredToCustomer", "787.00", kind="orders", posting_number="5-1-1",
                                accruals_for_sale="1000.00", sale_commission="150.00",
                                services=[("MarketplaceServiceItemDirectFlowLogistic", 63.0)],
                                at=datetime(2026, 3, 5))
    op = read_all(client(ozon), datetime(2026, 3, 1), datetime(2026, 3, 31))[0]
    assert op.ref == str(turned["operation_id"])
    assert (op.sale_amount, op.commission_amount, op.delivery_amount, op.services_amount) == (
        D("1000.00"), D("-150.00"), D("-63.00"), 0)


@pytest.mark.parametrize(("change", "says"), [
    ({"operation_date": ""}, "no readable operation_date"),
    ({"operation_date": "yesterday"}, "no readable operation_date"),
    ({"operation_id": None}, "no operation_id"),
    ({"amount": "12,50"}, "amount is not a number"),
    ({"amount": None}, "no amount"),
    ({"services": [{"name": "MarketplaceServiceItemDirectFlowLogistic", "price": "NaN"}]}, "is not a number"),
])
def test_an_unreadable_operation_stops_the_read_naming_it(ozon, change, says):
    at = datetime(2026, 3, 1, 10)
    ozon.service_operation("1.00", at=at)
    bad = ozon.sale_operation("7000-0001-1", 100, 10, at=at + timedelta(hours=1))
    ozon.service_operation("3.00", at=at + timedelta(hours=2))
    bad.update(change)
    finance = client(ozon)
    finance.fee_page_size = 1
    read = []
    with pytest.raises(ApiBadAnswer) as failed:
        for page in finance.fees(datetime(2026, 3, 1), datetime(2026, 3, 31)):
            read += page
    message = str(failed.value)
    assert says in message and "posting '7000-0001-1'" in message and "page 2 of 2026-03-01" in message
    assert "no operation is skipped" in message and "tried again" in message
    if change.get("operation_id", 0) is not None:
        assert str(bad["operation_id"]) in message
    # The page before it was handed over; nothing after it was read or skipped.
    assert [op.services_amount for op in read] == [D("-1.00")]
    assert [r["page"] for r in ozon.finance_requests] == [1, 2]


# -- Ozon's limits and faults --------------------------------------------------------------------

def test_a_rate_limit_is_waited_for_and_the_request_retried(ozon):
    ozon.service_operation("5.00", at=datetime(2026, 3, 3))
    ozon.finance_throttle = 2
    finance = client(ozon)
    assert [op.amount for op in read_all(finance, datetime(2026, 3, 1), datetime(2026, 3, 31))] == [D("-5.00")]
    assert ozon.finance_refused == 2 and finance.http.waited == 1.0 + 2.0
    ozon.finance_throttle = 4
    with pytest.raises(ApiRateLimited):
        read_all(client(ozon), datetime(2026, 3, 1), datetime(2026, 3, 31))


def test_a_second_reader_at_the_same_time_is_refused_and_retries(ozon):
    for n in range(6):
        ozon.service_operation("1.00", at=datetime(2026, 3, 1) + timedelta(days=n))
    ozon.finance_latency = 0.3
    results, errors = [], []

    def read():
        try:
            finance = client(ozon, sleep=__import__("time").sleep, retry=RetryPolicy(attempts=6, backoff=0.2))
            finance.fee_page_size = 2
            results.append(len(read_all(finance, datetime(2026, 3, 1), datetime(2026, 3, 31))))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30)
    assert errors == [] and results == [6, 6]
    assert ozon.finance_refused >= 1


def test_refused_credentials_are_an_authentication_error(ozon):
    with pytest.raises(ApiAuthError) as wrong:
        read_all(client(ozon, api_key="wrong-key"), datetime(2026, 3, 1), datetime(2026, 3, 31))
    assert wrong.value.status == 403
    with pytest.raises(ApiAuthError) as missing:
        client(ozon, api_key="").payouts(date(2026, 3, 1), date(2026, 3, 31))
    assert missing.value.status == 401


def test_an_html_page_instead_of_json_is_a_bad_answer(ozon):
    ozon.service_operation("1.00", at=datetime(2026, 3, 1))
    ozon.service_operation("2.00", at=datetime(2026, 3, 2))
    page = (200, "<html><body>Технические работы</body></html>")
    ozon.finance_broken_pages[2] = page
    finance = client(ozon)
    finance.fee_page_size = 1
    pages = finance.fees(datetime(2026, 3, 1), datetime(2026, 3, 31))
    assert [op.amount for op in next(pages)] == [D("-1.00")]
    with pytest.raises(ApiBadAnswer) as bad:
        next(pages)
    assert "HTML page" in str(bad.value)
    ozon.finance_broken[CASH_FLOW] = page
    with pytest.raises(ApiBadAnswer):
        finance.payouts(date(2026, 3, 1), date(2026, 3, 31))
    ozon.finance_broken[FINANCE_LIST] = (200, {"result": {"operations": {"not": "a list"}, "page_count": 1}})
    with pytest.raises(ApiBadAnswer):
        read_all(finance, datetime(2026, 3, 1), datetime(2026, 3, 31))


# -- settlement periods ----------------------------------------------------------------------------

def _february(ozon):
    ozon.sale_operation("6000-0001-1", "1000.00", "150.00", logistics="63.00", at=datetime(2026, 2, 3, 10))
    ozon.charge_operation("6000-0002-1", "20.00", operation_type="MarketplaceRedistributionOfAcquiringOperation",
                          at=datetime(2026, 2, 14, 23, 59, 59))
    ozon.return_operation("6000-0001-1", "1000.00", commission_back="150.00", return_delivery="40.00",
                          at=datetime(2026, 2, 16))
    ozon.service_operation("30.00", at=datetime(2026, 2, 28, 12))


def test_the_settlement_periods_are_the_1st_to_15th_and_16th_to_the_end(ozon):
    _february(ozon)
    ozon.paid_out[2026022] = D("-250.00")
    periods = client(ozon).payouts(date(2026, 2, 1), date(2026, 2, 28))
    assert [(p.ref, p.date_from, p.date_to, p.currency) for p in periods] == [
        ("2026021", date(2026, 2, 1), date(2026, 2, 15), "RUB"),
        ("2026022", date(2026, 2, 16), date(2026, 2, 28), "RUB")]
    first, second = periods
    assert (first.orders_amount, first.returns_amount, first.commission_amount, first.delivery_amount,
            first.services_amount) == (D("1000.00"), 0, D("-150.00"), D("-63.00"), D("-20.00"))
    assert first.total == D("767.00") and first.payout_amount == D("767.00")
    assert (second.orders_amount, second.returns_amount, second.commission_amount, second.delivery_amount,
            second.services_amount) == (0, D("-1000.00"), D("150.00"), D("-40.00"), D("-30.00"))
    # What Ozon says it pays for the period, as it says it.
    assert second.payout_amount == D("-250.00")
    assert [r.path for r in ozon.store.requests] == [CASH_FLOW, CASH_FLOW]


def test_a_statement_adds_up_to_the_operations_read_in_its_period(ozon):
    """The fee operations' parts and the statement's count the same things (logistics apart
    from other services): a consistent account reconciles with no difference."""
    _february(ozon)
    finance = client(ozon)
    operations = read_all(finance, datetime(2026, 2, 1), datetime(2026, 2, 28, 23, 59, 59))
    for period in finance.payouts(date(2026, 2, 1), date(2026, 2, 28)):
        inside = [op for op in operations if period.date_from <= op.date.date() <= period.date_to]
        assert period.orders_amount + period.returns_amount == sum(op.sale_amount for op in inside)
        assert period.commission_amount == sum(op.commission_amount for op in inside)
        assert period.delivery_amount == sum(op.delivery_amount for op in inside)
        assert period.services_amount == sum(op.services_amount for op in inside)
        assert period.total == sum(op.amount for op in inside)


def test_a_planted_statement_difference_is_read_as_ozon_says_it(ozon):
    _february(ozon)
    ozon.statement_adjust[2026021] = {"commission_amount": D("-7.50")}
    first = client(ozon).payouts(date(2026, 2, 1), date(2026, 2, 15))[0]
    assert first.commission_amount == D("-157.50") and first.payout_amount == D("759.50")


@pytest.mark.parametrize("details_as_list", [False, True])
def test_charges_given_as_positive_amounts_read_as_charges(ozon, details_as_list):
    _february(ozon)
    finance = client(ozon)
    seller_signs = finance.payouts(date(2026, 2, 1), date(2026, 2, 28))
    ozon.statement_charges_positive = True
    ozon.details_as_list = details_as_list
    assert finance.payouts(date(2026, 2, 1), date(2026, 2, 28)) == seller_signs


def test_an_empty_period_and_a_period_across_months(ozon):
    ozon.service_operation("10.00", at=datetime(2026, 1, 31, 22))
    periods = client(ozon).payouts(date(2026, 1, 20), date(2026, 2, 10))
    assert [(p.ref, p.total, p.payout_amount) for p in periods] == [
        ("2026012", D("-10.00"), D("-10.00")), ("2026021", 0, 0)]
    assert [(p.date_from, p.date_to) for p in periods] == [(date(2026, 1, 16), date(2026, 1, 31)),
                                                          (date(2026, 2, 1), date(2026, 2, 15))]


def test_a_period_without_an_id_and_a_net_refund_of_commission():
    period = read_period({"period": {"id": 0, "begin": "2026-08-24T00:00:00Z", "end": "2026-08-30T00:00:00Z"},
                          "orders_amount": 0, "returns_amount": -3000, "commission_amount": 450,
                          "item_delivery_and_return_amount": -120, "services_amount": 0, "currency_code": "RUB"},
                         {"20260824-20260830": D("-2670")})
    assert (period.ref, period.date_from, period.date_to) == ("20260824-20260830", date(2026, 8, 24),
                                                             date(2026, 8, 30))
    # A charge is negative here: the seller's signs, and the commission given back is a credit.
    assert (period.returns_amount, period.commission_amount, period.delivery_amount) == (
        D("-3000"), D("450"), D("-120"))
    assert period.payout_amount == D("-2670")
    with pytest.raises(ApiBadAnswer):
        read_period({"period": {"id": 0}, "orders_amount": 1}, {})
    with pytest.raises(ApiBadAnswer):
        read_period({"period": {"id": 5, "begin": "2026-08-24T00:00:00Z", "end": "2026-08-30T00:00:00Z"},
                     "orders_amount": "lots"}, {})


# -- fix round 13: how far a read went, English names ---------------------------------------------

def test_the_client_says_how_far_it_read_completely_month_by_month(ozon):
    """An unreadable operation in March holds up March only: February's window was read
    completely, and the client says so before March's first request."""
    ozon.service_operation("1.00", at=datetime(2026, 2, 10, 10))
    bad = ozon.service_operation("3.00", at=datetime(2026, 3, 2, 10))
    bad["amount"] = "three"
    finance = client(ozon)
    seen = []
    with pytest.raises(ApiBadAnswer):
        for _page in finance.fees(datetime(2026, 2, 1), datetime(2026, 3, 20)):
            seen.append(finance.fees_complete_up_to)
    assert seen == [datetime(2026, 2, 28, 23, 59, 59, 999999)], "told with February's last page"
    assert finance.fees_complete_up_to == datetime(2026, 2, 28, 23, 59, 59, 999999)
    # A complete read: up to its end; a new read starts from nothing known.
    ozon.operations.remove(bad)
    pages = []
    for _page in finance.fees(datetime(2026, 3, 1), datetime(2026, 3, 20)):
        pages.append(finance.fees_complete_up_to)
    assert pages == [datetime(2026, 3, 20)]


def test_known_operation_types_are_named_in_english_unknown_keep_ozons_name(ozon):
    at = datetime(2026, 3, 1, 10)
    ozon.service_operation("1.00", at=at)
    ozon.add_operation("MarketplaceRedistributionOfAcquiringOperation", "-0.50", posting_number="7000-0001",
                       name="Оплата эквайринга", at=at)
    ozon.add_operation("SomethingNewFromOzon", "-2.00", name="Новая услуга", at=at)
    names = [op.name for op in read_all(client(ozon), datetime(2026, 3, 1), datetime(2026, 3, 31))]
    assert names == ["Storage", "Acquiring (Card Payments)", "Новая услуга"]
