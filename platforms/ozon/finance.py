"""Ozon's money: the finance transactions (what Ozon credited and charged, operation by
operation) and the settlement periods (cash-flow statements), read as ``money`` records.

Facts used, from Ozon's documentation: ``/v3/finance/transaction/list`` takes a period of at
most one month and pages of up to 1000 (``page`` from 1, ``page_count`` in the answer), to be
asked one after the other ("send requests sequentially"); ``operation_date`` reads
``YYYY-MM-DD HH:MM:SS`` (UTC); ``posting.posting_number`` names the posting an operation
belongs to, empty for storage, promotion and other charges of no order; ``type`` is one of
orders, returns, services, compensation, transferDelivery, other. The settlement periods
(``/v1/finance/cash-flow-statement/list``) are the 1st–15th and the 16th–end of each month.

Not documented, read defensively: the sign of the statement's amounts (taken as the seller's:
sales credited, the rest charged, whatever sign Ozon sends) and the shape of ``details``.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ..http import ApiBadAnswer
from ..money import ZERO, FeeClient, FeeOperation, PayoutPeriod
from .api import OzonApi

FEE_PAGE_SIZE = 1000
#: One period a page: the statement's ``details`` (what was transferred) is one object per
#: answer, so one period a page leaves no doubt which period it tells of.
PAYOUT_PAGE_SIZE = 1
#: Ozon's transaction type -> our kind (an operation of an order that is no sale or return
#: is a charge on that order; one of no order, a service).
KINDS = {"orders": "sale", "returns": "return", "compensation": "compensation"}


def month_windows(date_from: datetime, date_to: datetime) -> Iterator[tuple[datetime, datetime]]:
    """``date_from`` .. ``date_to`` cut at month ends: each window lies within one calendar
    month, so never longer than the month Ozon allows a request."""
    start = date_from
    while start <= date_to:
        last_day = calendar.monthrange(start.year, start.month)[1]
        month_end = datetime.combine(date(start.year, start.month, last_day), time.max)
        end = min(month_end, date_to)
        yield start, end
        start = datetime.combine(month_end.date() + timedelta(days=1), time.min)


def iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else ZERO
    except InvalidOperation:
        return ZERO


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def read_operation(data: Mapping) -> FeeOperation:
    """A transaction of ``/v3/finance/transaction/list`` as a fee operation; ValueError when
    it has no id or date (nothing can be kept of it exactly once)."""
    ref = str(data.get("operation_id") or "")
    moment = _moment(data.get("operation_date"))
    if not ref or moment is None:
        raise ValueError(f"Ozon finance operation without id or date: {str(data)[:200]}")
    posting = data.get("posting") if isinstance(data.get("posting"), Mapping) else {}
    order_ref = str(posting.get("posting_number") or "")
    amount = _decimal(data.get("amount"))
    sale = _decimal(data.get("accruals_for_sale"))
    commission = _decimal(data.get("sale_commission"))
    delivery = _decimal(data.get("delivery_charge")) + _decimal(data.get("return_delivery_charge"))
    kind = KINDS.get(str(data.get("type") or ""), "order_charge" if order_ref else "service")
    return FeeOperation(
        ref=ref, date=moment, operation_type=str(data.get("operation_type") or ""),
        name=str(data.get("operation_type_name") or data.get("operation_type") or ""), kind=kind,
        amount=amount, sale_amount=sale, commission_amount=commission, delivery_amount=delivery,
        # The rest of the total: the services' prices and whatever Ozon adds that has no field.
        services_amount=amount - sale - commission - delivery, order_ref=order_ref)


def read_period(data: Mapping, payouts: Mapping[str, Decimal]) -> PayoutPeriod:
    period = data.get("period") if isinstance(data.get("period"), Mapping) else {}
    begin, end = _moment(period.get("begin")), _moment(period.get("end"))
    ref = str(period.get("id") or "")
    if not ref or begin is None or end is None:
        raise ApiBadAnswer(f"Ozon cash-flow statement without a period: {str(data)[:200]}", None, "")

    def charged(key: str) -> Decimal:
        return -abs(_decimal(data.get(key)))

    return PayoutPeriod(
        ref=ref, date_from=begin.date(), date_to=end.date(), currency=str(data.get("currency_code") or ""),
        orders_amount=abs(_decimal(data.get("orders_amount"))), returns_amount=charged("returns_amount"),
        commission_amount=charged("commission_amount"), services_amount=charged("services_amount"),
        delivery_amount=charged("item_delivery_and_return_amount"), payout_amount=payouts.get(ref))


class OzonFinance(OzonApi, FeeClient):
    """Reading Ozon's finance transactions and settlement periods."""

    fee_page_size = FEE_PAGE_SIZE

    def fees(self, date_from: datetime, date_to: datetime) -> Iterator[list[FeeOperation]]:
        for start, end in month_windows(date_from, date_to):
            page, page_count = 1, 1
            while page <= page_count:
                result = self.result("/v3/finance/transaction/list", {
                    "filter": {"date": {"from": iso_ms(start), "to": iso_ms(end)}, "operation_type": [],
                               "posting_number": "", "transaction_type": "all"},
                    "page": page, "page_size": self.fee_page_size})
                if not isinstance(result, Mapping):
                    raise ApiBadAnswer("Ozon /v3/finance/transaction/list: the result is not an object", None,
                                       str(result)[:2000])
                operations = result.get("operations") or []
                page_count = int(result.get("page_count") or 0)
                yield [read_operation(op) for op in operations if isinstance(op, Mapping)]
                page += 1

    def payouts(self, date_from: date, date_to: date) -> list[PayoutPeriod]:
        periods: list[PayoutPeriod] = []
        page, page_count = 1, 1
        while page <= page_count:
            result = self.result("/v1/finance/cash-flow-statement/list", {
                "date": {"from": iso_ms(datetime.combine(date_from, time.min)),
                         "to": iso_ms(datetime.combine(date_to, time.max))},
                "page": page, "page_size": PAYOUT_PAGE_SIZE, "with_details": True})
            if not isinstance(result, Mapping):
                raise ApiBadAnswer("Ozon /v1/finance/cash-flow-statement/list: the result is not an object",
                                   None, str(result)[:2000])
            payouts = _transfers(result.get("details"))
            periods += [read_period(row, payouts) for row in result.get("cash_flows") or []
                        if isinstance(row, Mapping)]
            page_count = int(result.get("page_count") or 0)
            page += 1
        return periods


def _transfers(details: Any) -> dict[str, Decimal]:
    """{period id: amount transferred} from the statement's details (an object, or a list of
    them: the documentation shows one)."""
    rows = details if isinstance(details, list) else [details]
    found = {}
    for row in rows:
        if not isinstance(row, Mapping) or not isinstance(row.get("period"), Mapping):
            continue
        if row.get("invoice_transfer") is not None:
            found[str(row["period"].get("id") or "")] = _decimal(row["invoice_transfer"])
    return found
