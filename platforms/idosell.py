"""IdoSell (IAI-Shop): a store without order webhooks, read by polling its Admin API.

Facts used, from the platform's documentation: the key goes in ``X-API-KEY``; request bodies are
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

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import (
    Address,
    AuthenticationError,
    Credential,
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
    as_object,
    as_objects,
    as_text,
    batches,
    numbered_updates,
    read_json,
    to_decimal,
)
from .http import ApiBadAnswer, ApiError, HttpClient, client_options

API_VERSION = "v6"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMEZONE_KEY = "sale_inbox_timezone"
#: Statuses in which an order paid in advance has been paid (IdoSell has no payment flag in
#: the order search answer we rely on: see readme/PLATFORMS.rst).
PAID_STATUSES = {"on_order", "packed", "ready", "finished", "finished_ext", "delivery_waiting"}


class IdoSell(Platform):
    code = "idosell"
    label = "IdoSell"
    credentials = (
        Credential("store_url", "Store URL", "The shop's address, e.g. https://my-shop.iai-shop.com.",
                   required=True),
        Credential("api_secret", "API Key",
                   "An Admin API key (Administration → API → Admin API) with access to orders, and to "
                   "products for stock sync.", required=True),
        Credential("store_timezone", "Store Time Zone",
                   "The time zone the shop's panel shows its dates in: IdoSell gives dates in the shop's "
                   "own time."),
        Credential("store_location", "Stock ID", "The IdoSell stock the quantities are sent to (1 when empty)."),
    )
    can_test_connection = True
    can_poll_orders = True
    can_sync_stock = True
    can_send_status = True
    can_read_status = True
    # Prices are not sent (their fields are unconfirmed) and the catalog is not read yet:
    # no Price List Sync, no Reconcile Stock.
    # IdoSell sends no webhooks: polling is how its orders come.
    poll_by_default = True
    sends_webhooks = False
    default_timezone = "Europe/Warsaw"
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
        serial = as_text(data, "orderSerialNumber")
        if not serial:
            raise InvalidPayload("the order has no orderSerialNumber")
        details = as_object(data, "orderDetails")
        zone = _zone(as_text(data, TIMEZONE_KEY) or "UTC")
        payments = as_object(details, "payments", "orderDetails.payments")
        money = as_object(payments, "orderCurrency", "orderDetails.payments.orderCurrency")
        base = as_object(payments, "orderBaseCurrency", "orderDetails.payments.orderBaseCurrency")
        products = as_objects(details, "productsResults", "orderDetails.productsResults")
        try:
            lines = [_line(item, f"orderDetails.productsResults[{index}]") for index, item in enumerate(products)]
            delivery = to_decimal(money.get("orderDeliveryCost") or 0)
            payform = to_decimal(money.get("orderPayformCost") or 0)
            total = sum((line.unit_price * line.quantity for line in lines), Decimal(0)) + delivery + payform
            delivery_vat = base.get("orderDeliveryVat")
            delivery_rate = to_decimal(delivery_vat) if delivery_vat is not None else None
        except ValueError as exc:
            raise InvalidPayload(f"an amount is not a number: {exc}") from exc
        status = as_text(details, "orderStatus", "orderDetails.orderStatus") or "new"
        payment_type = as_text(payments, "orderPaymentType", "orderDetails.payments.orderPaymentType")
        prepaid = payment_type == "prepaid"
        paid = prepaid and status in PAID_STATUSES
        dispatch = as_object(details, "dispatch", "orderDetails.dispatch")
        client = as_object(data, "clientResult")
        account = as_object(client, "clientAccount", "clientResult.clientAccount")
        billing = as_object(client, "clientBillingAddress", "clientResult.clientBillingAddress")
        shipping_to = as_object(client, "clientDeliveryAddress", "clientResult.clientDeliveryAddress")

        def text(data, key, path):
            return as_text(data, key, f"{path}.{key}")

        def bill(key):
            return text(billing, key, "clientResult.clientBillingAddress")

        def ship(key):
            return text(shipping_to, key, "clientResult.clientDeliveryAddress")

        def acc(key):
            return text(account, key, "clientResult.clientAccount")

        def when(key):
            return text(details, key, "orderDetails")

        name = " ".join(filter(None, [bill("clientFirstName"), bill("clientLastName")]))
        return NormalizedOrder(
            external_id=serial,
            number=serial,
            created_at=to_utc_iso(when("orderAddDate"), zone),
            updated_at=to_utc_iso(when("orderChangeDate") or when("orderAddDate"), zone),
            currency=text(money, "currencyId", "orderDetails.payments.orderCurrency")
            or text(base, "billingCurrency", "orderDetails.payments.orderBaseCurrency"),
            taxes_included=True,
            customer=Customer(
                external_id=acc("clientId"),
                email=acc("clientEmail").lower(),
                name=name,
                phone=acc("clientPhone1"),
            ),
            billing_address=Address(
                name=name, street=bill("clientStreet"), city=bill("clientCity"),
                zip=bill("clientZipCode"), country_code=bill("clientCountryId").upper(),
                phone=acc("clientPhone1"), email=acc("clientEmail").lower(),
            ),
            shipping_address=Address(
                name=" ".join(filter(None, [ship("clientDeliveryAddressFirstName"),
                                            ship("clientDeliveryAddressLastName")])),
                street=ship("clientDeliveryAddressStreet"),
                city=ship("clientDeliveryAddressCity"),
                zip=ship("clientDeliveryAddressZipCode"),
                country_code=ship("clientDeliveryAddressCountryId").upper(),
                phone=ship("clientDeliveryAddressPhone1"),
            ),
            lines=lines,
            shipping_lines=[ShippingLine(price=delivery, name=text(dispatch, "courierName", "orderDetails.dispatch"),
                                         tax_rate=delivery_rate)]
            if delivery else [],
            fee_lines=[ShippingLine(price=payform, name="Payment fee")] if payform else [],
            payment=Payment(
                method_code=payment_type,
                method_name=payment_type,
                status="paid" if paid else "pending",
                amount=total if paid else Decimal(0),
            ),
            total=total,
            status="cancelled" if self.status_rank(status) == 9 else status,
        )

    def client(self, credentials: Mapping[str, str], **kwargs) -> IdoSellClient:
        return IdoSellClient(credentials["store_url"], credentials["api_secret"],
                             timezone_name=credentials.get("timezone") or "Europe/Warsaw",
                             stock_id=credentials.get("stock_location") or "1", **client_options(credentials, kwargs))


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
        """One ``PUT orders/orders`` for all; a 207 names the orders it refused (``faultCode``).
        An order id that is not an IdoSell order serial number fails alone."""
        numbers, errors = numbered_updates(updates, "IdoSell order serial number", ApiError)
        results: dict[str, str | Exception] = dict(errors)
        updates = [u for u in updates if u.external_id in numbers]
        if not updates:
            return results
        answer = self.http.request("PUT", "orders/orders", json={"params": {"orders": [
            {"orderSerialNumber": numbers[u.external_id], "orderStatus": u.status} for u in updates]}})
        # An answer that is not JSON (an HTML page) confirms nothing: an error, not "no faults".
        if not isinstance(answer.json(), dict):
            raise ApiBadAnswer("IdoSell: PUT orders/orders answered without its results", answer.status_code,
                               url=answer.url)
        faults = _faults(answer)
        for update in updates:
            fault = faults.get(str(numbers[update.external_id])) or faults.get("")
            results[update.external_id] = ApiError(f"IdoSell refused order {update.external_id}: {fault}",
                                                   answer.status_code) if fault else f"status {update.status}"
        return results

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
                {"productSizeCodeExternal": u.sku, "stockId": int(self.stock_id),
                 "productSizeQuantity": int(u.quantity)}
                for u in chunk]}})
            if not isinstance(answer.json(), dict):
                # An HTML page or a bare value is no answer: nothing is taken as accepted.
                raise ApiBadAnswer("IdoSell: PUT products/stockQuantity answered without its results",
                                   answer.status_code, answer.text[:2000], answer.url)
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


def _line(item: Mapping[str, Any], path: str = "orderDetails.productsResults") -> OrderLine:
    size = as_text(item, "sizePanelName", f"{path}.sizePanelName")
    name = " ".join(filter(None, [as_text(item, "productName", f"{path}.productName"),
                                  size if size not in ("", "one size") else ""]))
    vat = item.get("productVat")
    return OrderLine(
        sku=as_text(item, "productSizeCodeExternal", f"{path}.productSizeCodeExternal")
        or as_text(item, "productCode", f"{path}.productCode"),
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
