"""The fake Ozon's finance methods (see ``fake``): a mixin of FakeOzon.

``/v3/finance/transaction/list`` answers the operations a test added, oldest first, in pages
(``page`` from 1, ``page_size`` 1..1000, ``page_count`` and ``row_count`` in the answer),
refuses a period longer than one month (400) and a request made while another is being
answered (429: Ozon asks for these requests one after the other). Operations have Ozon's
shape; ``operation_date`` reads ``YYYY-MM-DD HH:MM:SS``.

``/v1/finance/cash-flow-statement/list`` answers the settlement periods (1st–15th,
16th–end of month) overlapping the dates asked, each computed from the operations booked in
it as Ozon counts them (logistics services in ``item_delivery_and_return_amount``, the other
services in ``services_amount``); ``statement_adjust`` plants a difference in one period's
statement (what a real account shows when Ozon's statement and its transactions disagree) and
``paid_out`` sets what was transferred for a period (``details.invoice_transfer``).
Its charges are negative unless ``statement_charges_positive`` (the convention of Ozon's own
example); ``details`` is one object unless ``details_as_list``.

Faults a test plants: ``finance_throttle`` (the next so many requests get a 429),
``finance_latency`` (seconds each transaction list takes, so that two readers overlap and the
second gets Ozon's 429), ``finance_broken`` ({path: (status, body)} answered instead, e.g. a
200 with an HTML page) and ``finance_broken_pages`` (the same for one page of the list).
"""
from __future__ import annotations

import calendar
import itertools
import math
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

FINANCE_LIST = "/v3/finance/transaction/list"
CASH_FLOW = "/v1/finance/cash-flow-statement/list"
#: The services Ozon's statement counts as logistics (the fake's own list of Ozon's names).
STATEMENT_LOGISTICS = frozenset({
    "MarketplaceServiceItemDirectFlowLogistic", "MarketplaceServiceItemReturnFlowLogistic",
    "MarketplaceServiceItemDelivToCustomer", "MarketplaceServiceItemDirectFlowTrans",
    "MarketplaceServiceItemReturnFlowTrans", "MarketplaceServiceItemFulfillment", "MarketplaceServiceItemDropoffPVZ",
    "MarketplaceServiceItemReturnAfterDelivToCustomer", "MarketplaceServiceItemReturnNotDelivToCustomer",
    "MarketplaceServiceItemReturnPartGoodsCustomer", "MarketplaceDeliveryCostItem",
})


def _error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


def _money(value) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01")))


def period_of(day: date) -> tuple[int, date, date]:
    """(id, first day, last day) of Ozon's settlement period holding ``day``."""
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day <= 15:
        return int(f"{day:%Y%m}1"), day.replace(day=1), day.replace(day=15)
    return int(f"{day:%Y%m}2"), day.replace(day=16), day.replace(day=last)


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


class FakeOzonFinance:
    """Adds its routes in ``handlers`` (calling super()).

    State a test programs and reads: ``operations`` (Ozon's dicts plus ``_at``, a naive UTC
    datetime, not sent; ``add_operation`` and the helpers below), ``statement_adjust``
    ({period id: {statement field: amount added}}), ``paid_out`` ({period id: amount}),
    ``finance_requests`` (the body of every transaction list request answered)."""

    def __init__(self, *args, **kwargs):
        self.operations: list[dict] = []
        self.statement_adjust: dict[int, dict[str, Decimal]] = {}
        self.paid_out: dict[int, Decimal] = {}
        self.finance_requests: list[dict] = []
        #: The statements' currency (Ozon's: the contract's).
        self.currency = "RUB"
        self.statement_charges_positive = False
        self.details_as_list = False
        self.finance_throttle = 0
        self.finance_latency = 0.0
        self.finance_broken: dict[str, tuple[int, object]] = {}
        self.finance_broken_pages: dict[int, tuple[int, object]] = {}
        #: Transaction list requests answered 429 (throttled or made while another was answered).
        self.finance_refused = 0
        self._operation_ids = itertools.count(11401182187840)
        self._finance_busy = threading.Lock()
        super().__init__(*args, **kwargs)
        # The transaction list answers requests side by side, as Ozon's server does: a second
        # one arriving while the first is answered is refused (429), not queued by the fake.
        handler = self.handlers()[FINANCE_LIST]
        self.store.route("POST", FINANCE_LIST, handler=self._guarded(FINANCE_LIST, handler), concurrent=True)

    def handlers(self) -> dict:
        return {**super().handlers(), FINANCE_LIST: self._transaction_list, CASH_FLOW: self._cash_flow}

    # -- test helpers ----------------------------------------------------------------------------
    def add_operation(self, operation_type: str, amount, *, kind: str = "services", posting_number: str = "",
                      at: datetime | None = None, name: str = "", accruals_for_sale=0, sale_commission=0,
                      delivery_charge=0, return_delivery_charge=0, services: list[tuple[str, float]] = (),
                      scheme: str = "FBS", items: list[tuple[int, str]] = ()) -> dict:
        """One operation as Ozon lists it (``kind`` is Ozon's ``type``)."""
        at = (at or self.now()).replace(microsecond=0)
        operation = {
            "operation_id": next(self._operation_ids), "operation_type": operation_type,
            "operation_date": at.strftime("%Y-%m-%d %H:%M:%S"), "operation_type_name": name or operation_type,
            "delivery_charge": _money(delivery_charge), "return_delivery_charge": _money(return_delivery_charge),
            "accruals_for_sale": _money(accruals_for_sale), "sale_commission": _money(sale_commission),
            "amount": _money(amount), "type": kind,
            "posting": {"delivery_schema": scheme if posting_number else "",
                        "order_date": at.strftime("%Y-%m-%d %H:%M:%S") if posting_number else "",
                        "posting_number": posting_number, "warehouse_id": 22000000000001 if posting_number else 0},
            "items": [{"sku": sku, "name": item_name} for sku, item_name in items],
            "services": [{"name": service, "price": _money(price)} for service, price in services],
            "_at": at,
        }
        self.operations.append(operation)
        return operation

    def sale_operation(self, posting_number: str, price, commission, logistics=0, at: datetime | None = None) -> dict:
        """The delivery of a posting to its buyer: the price credited, the commission and the
        logistics charged (``commission`` and ``logistics`` as positive amounts)."""
        price, commission, logistics = Decimal(str(price)), Decimal(str(commission)), Decimal(str(logistics))
        services = [("MarketplaceServiceItemDirectFlowLogistic", -logistics)] if logistics else []
        return self.add_operation(
            "OperationAgentDeliveredToCustomer", price - commission - logistics, kind="orders",
            posting_number=posting_number, at=at, name="Доставка покупателю", accruals_for_sale=price,
            sale_commission=-commission, services=services)

    def charge_operation(self, posting_number: str, charge,
                         operation_type: str = "MarketplaceServiceItemDirectFlowLogistic",
                         at: datetime | None = None, name: str = "") -> dict:
        """A charge on a posting (a positive ``charge`` is taken from the seller)."""
        charge = Decimal(str(charge))
        return self.add_operation(operation_type, -charge, posting_number=posting_number, at=at,
                                  name=name or "Логистика", services=[(operation_type, -charge)])

    def service_operation(self, charge, operation_type: str = "OperationMarketplaceServiceStorage",
                          at: datetime | None = None, name: str = "") -> dict:
        """A charge of no order (storage, promotion…)."""
        return self.add_operation(operation_type, -Decimal(str(charge)), at=at, name=name or "Размещение товаров")

    def return_operation(self, posting_number: str, price, commission_back=0, return_delivery=0,
                         at: datetime | None = None) -> dict:
        """The buyer returned a posting's goods: the price taken back, the commission given
        back, the return delivery charged (all as positive amounts)."""
        price, back, delivery = (Decimal(str(v)) for v in (price, commission_back, return_delivery))
        return self.add_operation(
            "ClientReturnAgentOperation", -price + back - delivery, kind="returns", posting_number=posting_number,
            at=at, name="Получение возврата", accruals_for_sale=-price, sale_commission=back,
            return_delivery_charge=-delivery)

    # -- handlers --------------------------------------------------------------------------------
    def _transaction_list(self, body: dict) -> tuple:
        if not self._finance_busy.acquire(blocking=False):
            self.finance_refused += 1
            return 429, _error(8, "You have reached request rate limit per second")
        try:
            if self.finance_throttle > 0:
                self.finance_throttle -= 1
                self.finance_refused += 1
                return 429, _error(8, "You have reached request rate limit per second")
            if self.finance_latency:
                time.sleep(self.finance_latency)
            if FINANCE_LIST in self.finance_broken:
                return self.finance_broken[FINANCE_LIST]
            if body.get("page") in self.finance_broken_pages:
                return self.finance_broken_pages[body["page"]]
            return self._transactions(body)
        finally:
            self._finance_busy.release()

    def _transactions(self, body: dict) -> tuple:
        page, size = body.get("page"), body.get("page_size")
        if not isinstance(page, int) or page < 1 or not isinstance(size, int) or not 1 <= size <= 1000:
            return 400, _error(3, "page must be at least 1 and page_size between 1 and 1000")
        period = ((body.get("filter") or {}).get("date") or {})
        start, end = self._moment(period.get("from")), self._moment(period.get("to"))
        if not start or not end or end < start:
            return 400, _error(3, "filter.date.from and filter.date.to are required")
        if end > _add_month(start):
            return 400, _error(3, "The period must be no longer than one month")
        self.finance_requests.append(body)
        posting = (body.get("filter") or {}).get("posting_number") or ""
        matching = sorted((op for op in self.operations if start <= op["_at"] <= end
                           and (not posting or op["posting"]["posting_number"] == posting)),
                          key=lambda op: (op["_at"], op["operation_id"]))
        chunk = matching[(page - 1) * size:page * size]
        return 200, {"result": {"operations": [self._public_operation(op) for op in chunk],
                                "page_count": math.ceil(len(matching) / size), "row_count": len(matching)}}

    @staticmethod
    def _public_operation(operation: dict) -> dict:
        return {k: v for k, v in operation.items() if not k.startswith("_")}

    def statement(self, period_id: int) -> dict:
        """One period's cash flow as Ozon would answer it (charges as negative amounts, unless
        ``statement_charges_positive``)."""
        first, last, total = self._statement_totals(period_id)
        if self.statement_charges_positive:
            for key in ("commission_amount", "services_amount", "item_delivery_and_return_amount"):
                total[key] = -total[key]
        dates = {"begin": f"{first:%Y-%m-%d}T00:00:00Z", "end": f"{last:%Y-%m-%d}T23:59:59Z"}
        return {"period": {"id": period_id, **dates},
                **{key: _money(value) for key, value in total.items()}, "currency_code": self.currency}

    def payable(self, period_id: int) -> Decimal:
        """What Ozon pays for a period (``details.invoice_transfer``): ``paid_out`` when set,
        else what its statement counts (in the seller's signs)."""
        if period_id in self.paid_out:
            return Decimal(str(self.paid_out[period_id]))
        return sum(self._statement_totals(period_id)[2].values(), Decimal(0))

    def _statement_totals(self, period_id: int) -> tuple[date, date, dict[str, Decimal]]:
        ops = [op for op in self.operations if period_of(op["_at"].date())[0] == period_id]
        _, first, last = self._period_dates(period_id)
        total = {"orders_amount": Decimal(0), "returns_amount": Decimal(0), "commission_amount": Decimal(0),
                 "services_amount": Decimal(0), "item_delivery_and_return_amount": Decimal(0)}
        for op in ops:
            sale = Decimal(str(op["accruals_for_sale"]))
            delivery = Decimal(str(op["delivery_charge"])) + Decimal(str(op["return_delivery_charge"])) + sum(
                (Decimal(str(s["price"])) for s in op["services"] if s["name"] in STATEMENT_LOGISTICS), Decimal(0))
            commission = Decimal(str(op["sale_commission"]))
            total["orders_amount" if sale >= 0 else "returns_amount"] += sale
            total["commission_amount"] += commission
            total["item_delivery_and_return_amount"] += delivery
            total["services_amount"] += Decimal(str(op["amount"])) - sale - commission - delivery
        for key, delta in self.statement_adjust.get(period_id, {}).items():
            total[key] += Decimal(str(delta))
        return first, last, total

    @staticmethod
    def _period_dates(period_id: int) -> tuple[int, date, date]:
        text = str(period_id)
        day = date(int(text[:4]), int(text[4:6]), 1 if text[6] == "1" else 16)
        return period_of(day)

    def _cash_flow(self, body: dict) -> tuple:
        if CASH_FLOW in self.finance_broken:
            return self.finance_broken[CASH_FLOW]
        page, size = body.get("page"), body.get("page_size")
        if not isinstance(page, int) or page < 1 or not isinstance(size, int) or not 1 <= size <= 1000:
            return 400, _error(3, "page must be at least 1 and page_size between 1 and 1000")
        period = body.get("date") or {}
        start, end = self._moment(period.get("from")), self._moment(period.get("to"))
        if not start or not end or end < start:
            return 400, _error(3, "date.from and date.to are required")
        ids = []
        day = start.date()
        while day <= end.date():
            period_id, _first, last = period_of(day)
            ids.append(period_id)
            day = last + timedelta(days=1)
        chunk = ids[(page - 1) * size:page * size]
        flows = [self.statement(period_id) for period_id in chunk]
        result = {"cash_flows": flows, "page_count": math.ceil(len(ids) / size)}
        if body.get("with_details") and flows:
            details = [{"period": flow["period"], "invoice_transfer": _money(self.payable(flow["period"]["id"]))}
                       for flow in flows]
            result["details"] = details if self.details_as_list else details[0]
        return 200, {"result": result}
