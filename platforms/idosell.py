"""IdoSell (IAI-Shop): a store without order webhooks, read by polling its Admin API.

Facts used (``shared/platforms.md`` §5): the key goes in ``X-API-KEY``; request bodies are
wrapped in ``{"params": …}``; ``POST orders/orders/search`` filters on a date range of a
chosen kind (``modified`` here), pages with ``resultsPage`` (from 0) and ``resultsLimit``
(1–100) and answers ``Results``, ``resultsNumberAll`` and ``resultsNumberPage``; dates are
``YYYY-MM-DD HH:MM:SS`` in the shop's own time; HTTP 207 is a partial or empty answer, not a
failure; ``PUT orders/orders`` sets statuses and ``PUT products/stockQuantity`` quantities by
``productSizeCodeExternal`` (the SKU).

Dates: the shop speaks local wall time, Odoo keeps UTC. The client converts both ways with
the channel's time zone, and writes the zone into every order it hands over
(``sale_inbox_timezone``), so that the stored payload can be read again on its own.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import (
    Address,
    AuthenticationError,
    Customer,
    Delivery,
    InvalidPayload,
    NormalizedOrder,
    OrderLine,
    OrderStatus,
    Payment,
    Platform,
    ShippingLine,
    StatusClient,
    StatusUpdate,
    StockClient,
    StockUpdate,
    StoreItem,
    batches,
    read_json,
    to_decimal,
)
from .http import ApiError, HttpClient

API_VERSION = "v6"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMEZONE_KEY = "sale_inbox_timezone"
#: Statuses in which an order paid in advance has been paid (IdoSell has no payment flag in
#: the order search answer we rely on: see readme/PLATFORMS.rst).
PAID_STATUSES = {"on_order", "packed", "ready", "finished", "finished_ext", "delivery_waiting"}


class IdoSell(Platform):
    code = "idosell"
    label = "IdoSell"
    order_statuses = (
        OrderStatus("new", "New", 0),
        OrderStatus("payment_waiting", "Awaiting payment", 1),
        OrderStatus("delivery_waiting", "Awaiting delivery", 1),
        OrderStatus("suspended", "Suspended", 1),
        OrderStatus("on_order", "Being handled", 2),
        OrderStatus("packed", "Packed", 3),
        OrderStatus("ready", "Ready", 4),
        OrderStatus("finished", "Completed", 5),
        OrderStatus("finished_ext", "Completed elsewhere", 5),
        OrderStatus("canceled", "Cancelled", 9),
        OrderStatus("false", "Rejected", 9),
        OrderStatus("lost", "Lost", 9),
        OrderStatus("joined", "Merged", 9),
    )
    default_status_map = {
        "quotation": "new", "confirmed": "on_order", "partially_delivered": "packed", "delivered": "finished",
        "invoiced": "on_order", "paid": "on_order", "cancelled": "canceled",
    }

    def verify(self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str]) -> None:
        # IdoSell sends no webhooks: nothing that arrives at the webhook URL is authentic.
        raise AuthenticationError("IdoSell sends no webhooks; its orders are polled")

    def parse(self, body: bytes, content_type: str = "application/json") -> Delivery:
        data = read_json(body)
        if not isinstance(data, dict):
            raise InvalidPayload("the body is not an IdoSell order")
        order = self.read_order(data)
        return Delivery(external_id=order.external_id, order=order)

    def read_order(self, data: Mapping[str, Any]) -> NormalizedOrder:
        serial = data.get("orderSerialNumber")
        if not serial:
            raise InvalidPayload("the order has no orderSerialNumber")
        details = data.get("orderDetails") or {}
        zone = _zone(data.get(TIMEZONE_KEY) or "UTC")
        payments = details.get("payments") or {}
        money = payments.get("orderCurrency") or {}
        base = payments.get("orderBaseCurrency") or {}
        try:
            lines = [_line(item) for item in details.get("productsResults") or []]
            delivery = to_decimal(money.get("orderDeliveryCost") or 0)
            payform = to_decimal(money.get("orderPayformCost") or 0)
            total = sum((line.unit_price * line.quantity for line in lines), Decimal(0)) + delivery + payform
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        status = details.get("orderStatus") or "new"
        prepaid = payments.get("orderPaymentType") == "prepaid"
        paid = prepaid and status in PAID_STATUSES
        dispatch = details.get("dispatch") or {}
        delivery_vat = base.get("orderDeliveryVat")
        client = data.get("clientResult") or {}
        account = client.get("clientAccount") or {}
        billing = client.get("clientBillingAddress") or {}
        shipping_to = client.get("clientDeliveryAddress") or {}
        name = " ".join(filter(None, [billing.get("clientFirstName"), billing.get("clientLastName")]))
        return NormalizedOrder(
            external_id=str(serial),
            number=str(serial),
            created_at=to_utc_iso(details.get("orderAddDate"), zone),
            updated_at=to_utc_iso(details.get("orderChangeDate") or details.get("orderAddDate"), zone),
            currency=money.get("currencyId") or base.get("billingCurrency") or "",
            taxes_included=True,
            customer=Customer(
                external_id=str(account.get("clientId") or ""),
                email=(account.get("clientEmail") or "").lower(),
                name=name,
                phone=account.get("clientPhone1") or "",
            ),
            billing_address=Address(
                name=name, street=billing.get("clientStreet") or "", city=billing.get("clientCity") or "",
                zip=billing.get("clientZipCode") or "", country_code=(billing.get("clientCountryId") or "").upper(),
                phone=account.get("clientPhone1") or "", email=(account.get("clientEmail") or "").lower(),
            ),
            shipping_address=Address(
                name=" ".join(filter(None, [shipping_to.get("clientDeliveryAddressFirstName"),
                                            shipping_to.get("clientDeliveryAddressLastName")])),
                street=shipping_to.get("clientDeliveryAddressStreet") or "",
                city=shipping_to.get("clientDeliveryAddressCity") or "",
                zip=shipping_to.get("clientDeliveryAddressZipCode") or "",
                country_code=(shipping_to.get("clientDeliveryAddressCountryId") or "").upper(),
                phone=shipping_to.get("clientDeliveryAddressPhone1") or "",
            ),
            lines=lines,
            shipping_lines=[ShippingLine(price=delivery, name=dispatch.get("courierName") or "",
                                         tax_rate=to_decimal(delivery_vat) if delivery_vat is not None else None)]
            if delivery else [],
            fee_lines=[ShippingLine(price=payform, name="Payment fee")] if payform else [],
            payment=Payment(
                method_code=payments.get("orderPaymentType") or "",
                method_name=payments.get("orderPaymentType") or "",
                status="paid" if paid else "pending",
                amount=total if paid else Decimal(0),
            ),
            total=total,
            status="cancelled" if self.status_rank(status) == 9 else status,
        )

    def client(self, credentials: Mapping[str, str], **kwargs) -> "IdoSellClient":
        return IdoSellClient(credentials["store_url"], credentials["api_secret"],
                             timezone_name=credentials.get("timezone") or "Europe/Warsaw",
                             stock_id=credentials.get("stock_location") or "1", **kwargs)


class IdoSellClient(StockClient, StatusClient):
    """The Admin API of one IdoSell shop."""

    #: Orders per search page (IdoSell's maximum).
    page_size = 100
    #: Quantities per ``stockQuantity`` call (IdoSell documents no maximum).
    stock_batch_size = 100
    #: Passes over a search whose results moved between pages before giving up.
    max_passes = 3
    #: The search is not sorted by change time: the poll's watermark moves only after a
    #: complete read (see ``complete_up_to``).
    sorted_by_change = False

    def __init__(self, shop_url: str, api_key: str, timezone_name: str = "Europe/Warsaw", stock_id: str = "1",
                 clock=None, **http_options):
        base = shop_url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            base = f"https://{base}"
        self.http = HttpClient(f"{base}/api/admin/{API_VERSION}",
                               headers={"X-API-KEY": api_key, "Accept": "application/json"}, **http_options)
        self.zone = _zone(timezone_name)
        self.timezone_name = timezone_name
        self.stock_id = stock_id
        self._now = clock or (lambda: datetime.now(timezone.utc).replace(tzinfo=None))
        #: After a complete read, the moment (naive UTC) up to which every change was read.
        self.complete_up_to: datetime | None = None

    def test_connection(self) -> str:
        self._search({"ordersRange": {"ordersDateRange": {
            "ordersDateType": "add", "ordersDateBegin": local(self._now() - timedelta(minutes=1), self.zone),
            "ordersDateEnd": local(self._now(), self.zone)}}}, page=0, limit=1)
        return self.http.base_url

    def orders_since(self, since_iso: str) -> Iterator[list[dict]]:
        """Pages of the orders changed from ``since`` (UTC) up to now.

        The range's end is fixed when the read starts, so the result set holds still while it
        is paged; an order changed meanwhile falls out of it and into the next poll. When the
        pages still did not add up to the announced total (orders moved between pages), the
        whole range is read again; intake makes the repeats harmless. ``complete_up_to`` is
        set only once a pass saw every order.
        """
        since = datetime.fromisoformat(since_iso.rstrip("Z"))
        until = self._now()
        criteria = {"ordersRange": {"ordersDateRange": {
            "ordersDateType": "modified",
            "ordersDateBegin": local_floor(since, until, self.zone),
            "ordersDateEnd": local(until, self.zone),
        }}}
        self.complete_up_to = None
        for _pass in range(self.max_passes):
            seen, total, page = set(), 0, 0
            while True:
                answer = self._search(criteria, page=page, limit=self.page_size)
                results = answer.get("Results") or []
                total = max(total, int(answer.get("resultsNumberAll") or 0))
                for order in results:
                    order[TIMEZONE_KEY] = self.timezone_name
                    seen.add(order.get("orderSerialNumber"))
                yield results
                page += 1
                pages = -(-int(answer.get("resultsNumberAll") or 0) // self.page_size)
                if not results or page >= pages:
                    break
            if len(seen) >= total:
                self.complete_up_to = until
                return
        raise ApiError(f"IdoSell: {total} orders announced, {len(seen)} read after {self.max_passes} passes")

    def _search(self, criteria: dict, page: int, limit: int) -> dict:
        response = self.http.request("POST", "orders/orders/search",
                                     json={"params": dict(criteria, resultsPage=page, resultsLimit=limit)})
        if response.status_code == 207 or not response.content:
            # A partial or empty answer: whatever Results it holds, and no error.
            data = response.json() if response.content else {}
            return data if isinstance(data, dict) else {}
        return response.json()

    #: ``PUT orders/orders`` takes a list (no documented maximum).
    status_batch_size = 100

    def set_order_status(self, update: StatusUpdate) -> str:
        result = self.set_order_statuses([update])[update.external_id]
        if isinstance(result, Exception):
            raise result
        return result

    def set_order_statuses(self, updates: list[StatusUpdate]) -> dict[str, str | Exception]:
        """One ``PUT orders/orders`` for all; a 207 names the orders it refused (``faultCode``)."""
        answer = self.http.request("PUT", "orders/orders", json={"params": {"orders": [
            {"orderSerialNumber": int(u.external_id), "orderStatus": u.status} for u in updates]}})
        faults = _faults(answer)
        return {u.external_id: ApiError(f"IdoSell refused order {u.external_id}: "
                                        f"{faults.get(u.external_id) or faults['']}", answer.status_code)
                if u.external_id in faults or "" in faults else f"status {u.status}"
                for u in updates}

    def find_skus(self, skus: list[str]) -> dict[str, StoreItem]:
        """IdoSell takes quantities by external code: every SKU is its own key, and the
        quantity update says which ones the shop does not have (``not_in_store``)."""
        return {sku: StoreItem(sku, sku) for sku in skus}

    def catalog(self) -> Iterator[list[StoreItem]]:
        raise ApiError("IdoSell: reading the catalog is not supported yet")

    def push_stock(self, updates: list[StockUpdate]) -> dict[str, str | None]:
        """A fault on an item names its external code, the item's only key: the shop has no
        size under it, and it goes into ``not_in_store``; a fault of the whole request (no
        code) refuses every item of it, and says nothing of the SKUs."""
        results: dict[str, str | None] = {}
        #: The SKUs of this push the shop does not have.
        self.not_in_store: set[str] = set()
        for chunk in batches(updates, self.stock_batch_size):
            answer = self.http.request("PUT", "products/stockQuantity", json={"params": {"products": [
                {"productSizeCodeExternal": u.sku, "stockId": int(self.stock_id), "productSizeQuantity": int(u.quantity)}
                for u in chunk]}})
            faults = _faults(answer)
            for update in chunk:
                results[update.sku] = faults.get(update.sku) or faults.get("")
                if update.sku in faults:
                    self.not_in_store.add(update.sku)
        return results


def _faults(response) -> dict[str, str]:
    """Per-item errors of a 200/207 answer: items with a non-zero ``faultCode``."""
    try:
        data = response.json()
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    faults = {}
    results = data.get("results") or data.get("Results") or {}
    items = results if isinstance(results, list) else [
        item for value in (results.values() if isinstance(results, dict) else []) if isinstance(value, list)
        for item in value]
    for item in items:
        if isinstance(item, dict) and item.get("faultCode") not in (None, 0, "0"):
            key = str(item.get("productSizeCodeExternal") or item.get("orderSerialNumber") or "")
            faults[key] = item.get("faultString") or f"fault {item.get('faultCode')}"
    errors = data.get("errors")
    if isinstance(errors, dict) and errors.get("faultString") and errors.get("faultCode") not in (None, 0, "0"):
        faults[""] = errors["faultString"]
    return faults


def _line(item: Mapping[str, Any]) -> OrderLine:
    name = " ".join(filter(None, [item.get("productName"), item.get("sizePanelName")
                                  if item.get("sizePanelName") not in (None, "", "one size") else ""]))
    vat = item.get("productVat")
    return OrderLine(
        sku=item.get("productSizeCodeExternal") or item.get("productCode") or "",
        name=name,
        quantity=to_decimal(item.get("productQuantity") or 0),
        # Gross: IdoSell's order price includes tax and any rebate.
        unit_price=to_decimal(item.get("productOrderPrice") or 0),
        tax_rate=to_decimal(vat) if vat is not None else None,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidPayload(f"unknown time zone {name!r}") from exc


def local(moment: datetime, zone: ZoneInfo) -> str:
    """A naive UTC moment as the shop's wall time."""
    return moment.replace(tzinfo=timezone.utc).astimezone(zone).strftime(DATE_FORMAT)


def local_floor(since: datetime, until: datetime, zone: ZoneInfo) -> str:
    """The shop's wall time to search from so that every change after ``since`` (UTC) is
    included: when the clocks went back between ``since`` and ``until``, changes made after
    it show wall times up to the shift earlier than ``since``'s."""
    start = since.replace(tzinfo=timezone.utc).astimezone(zone)
    end = until.replace(tzinfo=timezone.utc).astimezone(zone)
    shift = start.utcoffset() - end.utcoffset()
    if shift > timedelta(0):
        start -= shift
    return start.strftime(DATE_FORMAT)


def to_utc_iso(value: str | None, zone: ZoneInfo) -> str:
    """The shop's wall time as ISO 8601 UTC ('' when absent or unreadable)."""
    if not value:
        return ""
    try:
        moment = datetime.strptime(value, DATE_FORMAT).replace(tzinfo=zone)
    except ValueError:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
