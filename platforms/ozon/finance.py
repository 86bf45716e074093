"""Ozon's money: the finance transactions (what Ozon credited and charged, operation by
operation) and the settlement periods (cash-flow statements), read as ``money`` records.

Documented by Ozon, and relied on:

- ``/v3/finance/transaction/list`` takes ``filter.date.from``/``to`` (``YYYY-MM-DDTHH:mm:ss.sssZ``)
  over **at most one month**, and ``page`` (from 1) and ``page_size``, both required; it answers
  ``operations``, ``page_count`` (0: no more pages) and ``row_count``. Ozon asks for these
  requests to be sent one after the other: the client reads each calendar month on its own,
  page after page, never two at once, and a 429 is waited for and retried by the transport.
- An operation has ``operation_id``, ``operation_date``, ``operation_type`` (and its name),
  ``type`` (orders, returns, services, compensation, transferDelivery, other), ``amount`` (the
  operation's total), ``accruals_for_sale`` (the goods' price), ``sale_commission`` (the sale
  commission, or its refund), ``delivery_charge`` and ``return_delivery_charge`` (only on old
  tariffs and bulky goods), ``services`` (``name``, ``price``), ``items`` and ``posting``
  (``posting_number`` is the posting it belongs to; empty for storage, promotion and the other
  charges of no order).
- ``/v1/finance/cash-flow-statement/list`` takes ``date.from``/``to``, ``page`` and
  ``page_size`` (required) and ``with_details``; it answers ``cash_flows`` (per period:
  ``period`` {id, begin, end}, ``orders_amount``, ``returns_amount``, ``commission_amount``,
  ``services_amount``, ``item_delivery_and_return_amount``, ``currency_code``), ``details``
  (``period``, ``invoice_transfer``: the amount payable for the period, ``payments``,
  balances…) and ``page_count``. Ozon documents its periods as the 1st–15th and the
  16th–end of each month.

Not documented, or documented loosely, and read defensively:

- Signs of a transaction. Examples (Ozon's and others' real answers) show the seller's
  signs: credits positive, charges negative (``sale_commission`` -35.95 on a sale, +48.32
  given back on a return; services' prices negative), and ``amount`` = ``accruals_for_sale``
  + ``sale_commission`` + the services' prices + the two delivery charges. ``amount`` is
  taken as the truth; if the parts only add up to it with the commission's or the services'
  sign turned, they are turned (a client written for one convention is not silently wrong
  under the other); what still does not add up is counted as services.
- ``operation_date`` reads ``YYYY-MM-DD HH:MM:SS`` without a zone: taken as UTC, as Ozon says
  of all its dates (one integrator saw Moscow time there: then a date is 3 hours late).
- ``details`` is an object in Ozon's example and a list in its schema; each names its
  period, and is matched to the statement by it (one period a page keeps it unambiguous when
  it names none). A period ``id`` of 0 (seen by integrators, with weekly periods) is replaced
  by the period's dates.
- Signs of the statement: Ozon's example gives the returns negative and the commission,
  logistics and services as positive amounts; integrators' real answers give the charges
  negative. Orders are read as credited and returns as taken back whatever their sign. The
  three charges are read in the convention whose total comes nearer the amount payable for
  the period (``invoice_transfer``); without it, they keep their signs when any of them is
  negative (the seller's convention) and are turned when none is (the example's), so that a
  commission given back on returns still reads as a credit.
- What counts as logistics (``delivery_amount``): the services the statement counts in
  ``item_delivery_and_return_amount`` (``LOGISTICS``: delivery to the buyer, the direct and
  return flows, drop-off, assembly, the processing of returns and cancellations); the other
  services (storage, promotion, acquiring…) are ``services_amount``.
- An operation of an order's payment (acquiring) may name the order (``12345678-0010``)
  rather than its posting (``12345678-0010-1``): it is kept with that reference.
"""
from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ..http import ApiBadAnswer
from ..money import ZERO, FeeClient, FeeOperation, PayoutPeriod
from .api import OzonApi

TRANSACTIONS = "/v3/finance/transaction/list"
CASH_FLOW = "/v1/finance/cash-flow-statement/list"
FEE_PAGE_SIZE = 1000
#: One period a page: a statement's ``details`` may name no period, and then one period a
#: page leaves no doubt which period it tells of.
PAYOUT_PAGE_SIZE = 1
#: Ozon's transaction type -> our kind (an operation of an order that is no sale or return
#: is a charge on that order; one of no order, a service, or something else).
KINDS = {"orders": "sale", "returns": "return", "compensation": "compensation"}
#: Ozon's names of the services its statement counts as logistics (delivery and return), and
#: of the operation types that are logistics whole.
LOGISTICS = frozenset({
    "MarketplaceDeliveryCostItem", "MarketplaceNotDeliveredCostItem", "MarketplaceReturnAfterDeliveryCostItem",
    "MarketplaceServiceItemDelivToCustomer", "MarketplaceServiceItemDirectFlowTrans",
    "MarketplaceServiceItemDirectFlowLogistic", "MarketplaceServiceItemDirectFlowLogisticSum",
    "MarketplaceServiceItemDirectFlowLogisticDC", "MarketplaceServiceItemDirectFlowLogisticVDC",
    "MarketplaceServiceDCFlowTrans", "MarketplaceServiceItemDeliveryKGT",
    "MarketplaceServiceItemDropoff", "MarketplaceServiceItemDropoffFF", "MarketplaceServiceItemDropoffPVZ",
    "MarketplaceServiceItemDropoffSC", "MarketplaceServiceItemDropoffPPZ", "MarketplaceServiceItemFulfillment",
    "MarketplaceServiceItemPickup", "MarketplaceServiceItemReturnAfterDelivToCustomer",
    "MarketplaceServiceItemReturnFlowTrans", "MarketplaceServiceItemReturnFlowLogistic",
    "MarketplaceServiceItemReturnNotDelivToCustomer", "MarketplaceServiceItemReturnPartGoodsCustomer",
    "MarketplaceServiceItemRedistributionReturnsPVZ", "OperationItemReturn",
})
#: Ozon's operation types in English (Ozon names them in Russian only): the name an operation
#: is shown by. An operation type not listed keeps the name Ozon gives it.
OPERATION_NAMES = {
    "OperationAgentDeliveredToCustomer": "Sale: Delivered to the Buyer",
    "OperationAgentStornoDeliveredToCustomer": "Sale Reversed",
    "OperationItemReturn": "Return Logistics",
    "ClientReturnAgentOperation": "Return from the Buyer",
    "OperationReturnGoodsFBSofRMS": "Return of FBS Goods",
    "OperationAgentDeliveredToCustomerCanceled": "Delivery to the Buyer Cancelled",
    "OperationClaim": "Claim",
    "OperationCorrectionSeller": "Correction",
    "OperationDefectiveWriteOff": "Defective Goods Written Off",
    "OperationLackWriteOff": "Missing Goods Written Off",
    "OperationSetOff": "Set-Off",
    "OperationMarketplaceCrossDockServiceWriteOff": "Cross-Docking",
    "OperationMarketplaceServiceStorage": "Storage",
    "OperationMarketplaceServicePremiumCashbackIndividualPoints": "Premium Cashback Points",
    "OperationMarketplaceServicePremiumPromotion": "Premium Promotion",
    "OperationMarketplaceWithHoldingForUndeliverableGoods": "Withheld for Undeliverable Goods",
    "OperationMarketplaceServiceItemElectronicServicesStencil": "Electronic Services",
    "OperationSubscriptionPremium": "Premium Subscription",
    "MarketplaceMarketingActionCostOperation": "Promotion",
    "MarketplaceSaleReviewsOperation": "Paid Reviews",
    "MarketplaceRedistributionOfAcquiringOperation": "Acquiring (Card Payments)",
    "MarketplaceSellerCompensationOperation": "Compensation",
    "MarketplaceSellerReexposureDeliveryReturnOperation": "Re-Exposure after Delivery Return",
    "MarketplaceSellerShippingCompensationReturnOperation": "Shipping Compensation on Return",
    "MarketplaceSellerCorrectionOperation": "Correction",
    "MarketplaceSellerDecompensationOperation": "Compensation Reversed",
    "MarketplaceReturnStorageServiceAtThePickupPointFbsItem": "Return Storage at the Pickup Point",
    "MarketplaceReturnStorageServiceInTheWarehouseFbsItem": "Return Storage in the Warehouse",
    "MarketplaceServiceItemDirectFlowLogistic": "Logistics",
    "MarketplaceServiceItemReturnFlowLogistic": "Return Logistics",
    "MarketplaceServiceItemDelivToCustomer": "Last-Mile Delivery",
    "MarketplaceServiceItemDropoffPVZ": "Drop-Off at a Pickup Point",
    "MarketplaceServiceItemFulfillment": "Assembly",
    "MarketplaceDeliveryCostItem": "Delivery",
    "MarketplaceNotDeliveredCostItem": "Not Delivered",
    "MarketplaceReturnAfterDeliveryCostItem": "Return after Delivery",
    "MarketplaceServiceItemReturnAfterDelivToCustomer": "Return after Delivery to the Buyer",
    "MarketplaceServiceItemReturnNotDelivToCustomer": "Return of an Undelivered Order",
    "MarketplaceServiceItemReturnPartGoodsCustomer": "Partial Return by the Buyer",
    "DisposalReasonFailedToPickupOnTime": "Disposal: Not Picked Up in Time",
    "DisposalReasonDamagedPackaging": "Disposal: Damaged Packaging",
    "MarketplaceServiceBrandCommission": "Brand Commission",
    "MarketplaceServicePremiumCashback": "Premium Cashback",
    "StarsMembership": "Stars Membership",
}
#: (commission sign, services sign) tried in turn until an operation's parts add up.
_SIGN_READINGS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


def month_windows(date_from: datetime, date_to: datetime) -> Iterator[tuple[datetime, datetime]]:
    """``date_from`` .. ``date_to`` cut at month ends: each window lies within one calendar
    month, so never longer than the month Ozon allows a request, and the next one starts
    where it ends (the last millisecond of the month, then midnight), so nothing falls between."""
    start = date_from
    while start <= date_to:
        last_day = calendar.monthrange(start.year, start.month)[1]
        month_end = datetime.combine(date(start.year, start.month, last_day), time.max)
        end = min(month_end, date_to)
        yield start, end
        start = datetime.combine(month_end.date() + timedelta(days=1), time.min)


def iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decimal(value: Any, what: str, required: bool = False) -> Decimal:
    """A money amount; ValueError naming ``what`` when it cannot be read (never a silent 0)."""
    if value is None or value == "":
        if required:
            raise ValueError(f"no {what}")
        return ZERO
    if isinstance(value, bool):
        raise ValueError(f"{what} is not a number ({value!r})")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"{what} is not a number ({str(value)[:40]!r})")
    return number


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def describe(data: Mapping) -> str:
    """An operation in a few words for an error message (its id, type, date and posting:
    nothing personal)."""
    posting = data.get("posting") if isinstance(data.get("posting"), Mapping) else {}
    words = [f"{key} {str(data.get(key))[:40]!r}" for key in ("operation_id", "operation_type", "operation_date")
             if data.get(key) not in (None, "")]
    if posting.get("posting_number"):
        words.append(f"posting {str(posting['posting_number'])[:40]!r}")
    return ", ".join(words) or "an operation with no id, type or date"


def _services(data: Mapping) -> list[tuple[str, Decimal]]:
    services = data.get("services")
    if services in (None, ""):
        return []
    if not isinstance(services, list):
        raise ValueError("services is not a list")
    found = []
    for service in services:
        if not isinstance(service, Mapping):
            raise ValueError("a service is not an object")
        name = str(service.get("name") or "")
        found.append((name, _decimal(service.get("price"), f"the price of service {name[:60]!r}")))
    return found


def read_operation(data: Mapping) -> FeeOperation:
    """A transaction of ``/v3/finance/transaction/list`` as a fee operation; ValueError,
    naming the operation, when it has no id or date or an amount that is not a number
    (nothing of it could be kept exactly once, or right)."""
    ref = str(data.get("operation_id") or "").strip()
    moment = _moment(data.get("operation_date"))
    try:
        if not ref:
            raise ValueError("no operation_id")
        if moment is None:
            raise ValueError("no readable operation_date")
        amount = _decimal(data.get("amount"), "amount", required=True)
        sale = _decimal(data.get("accruals_for_sale"), "accruals_for_sale")
        commission = _decimal(data.get("sale_commission"), "sale_commission")
        charges = (_decimal(data.get("delivery_charge"), "delivery_charge")
                   + _decimal(data.get("return_delivery_charge"), "return_delivery_charge"))
        services = _services(data)
    except ValueError as exc:
        raise ValueError(f"Ozon finance operation ({describe(data)}): {exc}") from None
    logistics = sum((price for name, price in services if name in LOGISTICS), ZERO)
    others = sum((price for name, price in services if name not in LOGISTICS), ZERO)
    commission_sign, services_sign = next(
        ((c, s) for c, s in _SIGN_READINGS
         if sale + c * commission + s * (charges + logistics + others) == amount), (1, 1))
    commission *= commission_sign
    delivery = services_sign * (charges + logistics)
    operation_type = str(data.get("operation_type") or "")
    if not services and not charges and operation_type in LOGISTICS:
        # A logistics operation that does not list its services: its whole charge is logistics.
        delivery = amount - sale - commission
    posting = data.get("posting") if isinstance(data.get("posting"), Mapping) else {}
    order_ref = str(posting.get("posting_number") or "").strip()
    return FeeOperation(
        ref=ref, date=moment, operation_type=operation_type,
        name=OPERATION_NAMES.get(operation_type) or str(data.get("operation_type_name") or operation_type),
        kind=_kind(str(data.get("type") or ""), order_ref),
        amount=amount, sale_amount=sale, commission_amount=commission, delivery_amount=delivery,
        # The rest of the total: the other services and whatever Ozon adds that has no field.
        services_amount=amount - sale - commission - delivery, order_ref=order_ref)


def _kind(ozon_type: str, order_ref: str) -> str:
    if ozon_type in KINDS:
        return KINDS[ozon_type]
    if order_ref:
        return "order_charge"
    return "service" if ozon_type in ("services", "") else "other"


def period_ref(period: Any) -> str:
    """The reference of a statement's period: Ozon's id, or its dates when the id is 0 or
    missing; '' when it has neither."""
    if not isinstance(period, Mapping):
        return ""
    if period.get("id") not in (None, "", 0, "0"):
        return str(period["id"])
    begin, end = _moment(period.get("begin")), _moment(period.get("end"))
    return f"{begin:%Y%m%d}-{end:%Y%m%d}" if begin and end else ""


def read_period(data: Mapping, payouts: Mapping[str, Decimal]) -> PayoutPeriod:
    """A cash flow of ``/v1/finance/cash-flow-statement/list`` in the seller's signs (see the
    module's docstring); ``payouts`` are the amounts payable per period ref."""
    period = data.get("period") if isinstance(data.get("period"), Mapping) else {}
    begin, end = _moment(period.get("begin")), _moment(period.get("end"))
    ref = period_ref(period)
    if not ref or begin is None or end is None:
        raise ApiBadAnswer(f"Ozon {CASH_FLOW}: a cash flow without a readable period: {str(data)[:200]}", None, "")
    try:
        orders, returns, commission, delivery, services = (_decimal(data.get(key), key) for key in (
            "orders_amount", "returns_amount", "commission_amount", "item_delivery_and_return_amount",
            "services_amount"))
    except ValueError as exc:
        raise ApiBadAnswer(f"Ozon {CASH_FLOW}: period {ref}: {exc}", None, str(data)[:2000]) from None
    orders, returns = abs(orders), -abs(returns)
    payable = payouts.get(ref)
    if _charged_as_positive(orders + returns, (commission, delivery, services), payable):
        commission, delivery, services = -commission, -delivery, -services
    return PayoutPeriod(
        ref=ref, date_from=begin.date(), date_to=end.date(), currency=str(data.get("currency_code") or ""),
        orders_amount=orders, returns_amount=returns, commission_amount=commission,
        delivery_amount=delivery, services_amount=services, payout_amount=payable)


def _charged_as_positive(goods: Decimal, charges: tuple[Decimal, ...], payable: Decimal | None) -> bool:
    """Whether a statement gives its charges as positive amounts (Ozon's example) rather than
    in the seller's signs: the reading whose total is nearer the amount payable for the
    period, when Ozon says it; else the example's when no charge is negative."""
    if payable is not None:
        as_sent, turned = goods + sum(charges), goods - sum(charges)
        if abs(as_sent - payable) != abs(turned - payable):
            return abs(turned - payable) < abs(as_sent - payable)
    return not any(value < 0 for value in charges)


def _page_count(result: Mapping, path: str) -> int:
    value = result.get("page_count") or 0
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ApiBadAnswer(f"Ozon {path}: page_count is not a number ({str(value)[:40]!r})", None, "")
    return int(value)


def _listed(result: Mapping, key: str, path: str) -> list:
    rows = result.get(key)
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise ApiBadAnswer(f"Ozon {path}: {key} is not a list", None, str(rows)[:2000])
    return rows


class OzonFinance(OzonApi, FeeClient):
    """Reading Ozon's finance transactions and settlement periods."""

    fee_page_size = FEE_PAGE_SIZE
    #: How far the last ``fees()`` read completely (naive UTC): the end of the last month
    #: window whose every page was handed over, set before that window's last page is
    #: handed over (so a reader storing pages as they come may move its watermark there
    #: once it has stored it); None before the first window is complete.
    fees_complete_up_to: datetime | None = None

    def _finance_result(self, path: str, body: Mapping) -> Mapping:
        result = self.result(path, body)
        if not isinstance(result, Mapping):
            raise ApiBadAnswer(f"Ozon {path}: the result is not an object", None, str(result)[:2000])
        return result

    def fees(self, date_from: datetime, date_to: datetime) -> Iterator[list[FeeOperation]]:
        """Each calendar month of the period on its own (Ozon allows one month a request),
        its pages one after the other. An operation that cannot be read stops the read with
        an error naming it (the pages before it were handed over; the next read starts again
        where this one could not go on): skipping it would lose it for good.
        ``fees_complete_up_to`` says how far the read went window by window: an operation
        that cannot be read holds up its own month only."""
        self.fees_complete_up_to = None
        for start, end in month_windows(date_from, date_to):
            page, page_count = 1, 1
            while page <= page_count:
                result = self._finance_result(TRANSACTIONS, {
                    "filter": {"date": {"from": iso_ms(start), "to": iso_ms(end)}, "operation_type": [],
                               "posting_number": "", "transaction_type": "all"},
                    "page": page, "page_size": self.fee_page_size})
                operations = _listed(result, "operations", TRANSACTIONS)
                page_count = _page_count(result, TRANSACTIONS)
                read = [self._read(operation, page, start, end) for operation in operations]
                # An empty page ends the window too: a page count that promised more than there is.
                if page >= page_count or not operations:
                    self.fees_complete_up_to = end
                yield read
                if not operations:
                    break
                page += 1

    @staticmethod
    def _read(operation: Any, page: int, start: datetime, end: datetime) -> FeeOperation:
        where = f"page {page} of {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC"
        if not isinstance(operation, Mapping):
            raise ApiBadAnswer(f"Ozon {TRANSACTIONS}: an operation that is not an object on {where}", None,
                               str(operation)[:2000])
        try:
            return read_operation(operation)
        except ValueError as exc:
            raise ApiBadAnswer(
                f"Ozon {TRANSACTIONS}, {where}: {exc}. The read stops here so that no operation is "
                "skipped; it is tried again at the next read.", None, json.dumps(operation, default=str)[:2000],
            ) from None

    def payouts(self, date_from: date, date_to: date) -> list[PayoutPeriod]:
        periods: dict[str, PayoutPeriod] = {}
        page, page_count = 1, 1
        while page <= page_count:
            result = self._finance_result(CASH_FLOW, {
                "date": {"from": iso_ms(datetime.combine(date_from, time.min)),
                         "to": iso_ms(datetime.combine(date_to, time.max))},
                "page": page, "page_size": PAYOUT_PAGE_SIZE, "with_details": True})
            flows = [row for row in _listed(result, "cash_flows", CASH_FLOW) if isinstance(row, Mapping)]
            payouts = _transfers(result.get("details"), flows)
            for row in flows:
                period = read_period(row, payouts)
                periods[period.ref] = period
            page_count = _page_count(result, CASH_FLOW)
            if not flows:
                break
            page += 1
        return sorted(periods.values(), key=lambda p: (p.date_from, p.ref))


def _transfers(details: Any, flows: list[Mapping]) -> dict[str, Decimal]:
    """{period ref: amount payable} from the statement's details (an object, or a list of
    them), each matched by the period it names; details naming none are the page's one period's."""
    rows = details if isinstance(details, list) else [details]
    found = {}
    for row in rows:
        if not isinstance(row, Mapping) or row.get("invoice_transfer") in (None, ""):
            continue
        ref = period_ref(row.get("period")) or (period_ref(flows[0].get("period")) if len(flows) == 1 else "")
        if ref:
            try:
                found[ref] = _decimal(row["invoice_transfer"], "invoice_transfer")
            except ValueError as exc:
                raise ApiBadAnswer(f"Ozon {CASH_FLOW}: period {ref}: {exc}", None, str(row)[:2000]) from None
    return found
