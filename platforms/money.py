"""A marketplace's money, as every platform gives it to Odoo: what it charged and credited per
operation (:class:`FeeOperation`), and its settlement periods (:class:`PayoutPeriod`).

Plain Python, no Odoo import. A platform that reads them declares ``can_read_fees`` and
``can_read_payouts`` and its client implements :class:`FeeClient`. Odoo keeps the operations
as marketplace fees (``sale.channel.fee``), pays delivered orders net of their fees and
compares the settlement periods with what it booked; none of that depends on the platform.

Signs are the seller's: money credited to the seller is positive, a charge negative, whatever
sign the store's API uses (Ozon's own convention is not documented for every field).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

#: What an operation is, in the merchant's words (the report groups by it): the sale of an
#: order's goods, their return, a charge on an order (commission, logistics…), a service not
#: of one order (storage, promotion…), a compensation paid to the seller, anything else.
FEE_KINDS = ("sale", "return", "order_charge", "service", "compensation", "other")

ZERO = Decimal(0)


@dataclass
class FeeOperation:
    """One money operation of the marketplace on the seller's account.

    ``amount`` is the operation's total; it is split into ``sale_amount`` (the goods' price
    credited, negative for a return), ``commission_amount`` (the sale commission),
    ``delivery_amount`` (logistics, delivery and return delivery) and ``services_amount``
    (everything else): the four always add up to ``amount``.
    """

    #: The store's id of the operation: unique per seller account, the same at every read.
    ref: str
    #: When it was booked by the store (naive UTC).
    date: datetime
    #: The store's code of the operation type and its name in the store's words.
    operation_type: str
    name: str
    kind: str
    amount: Decimal
    sale_amount: Decimal = ZERO
    commission_amount: Decimal = ZERO
    delivery_amount: Decimal = ZERO
    services_amount: Decimal = ZERO
    #: The order (Ozon: posting number) it belongs to; '' for an operation of no order.
    order_ref: str = ""
    #: ISO code; '' when the store does not say (the channel's currency).
    currency: str = ""

    @property
    def charges(self) -> Decimal:
        """What the operation charged (negative) or gave back (positive) beyond the sale."""
        return self.amount - self.sale_amount


@dataclass
class PayoutPeriod:
    """One settlement period of the store: what it counted for the period, per kind of money
    (the same signs as :class:`FeeOperation`), and what it paid out for it when it says."""

    ref: str
    date_from: date
    date_to: date
    currency: str
    orders_amount: Decimal = ZERO
    returns_amount: Decimal = ZERO
    commission_amount: Decimal = ZERO
    delivery_amount: Decimal = ZERO
    services_amount: Decimal = ZERO
    #: The amount the store pays out for the period, as it states it (Ozon: the amount payable
    #: for the period, ``invoice_transfer``); None when it does not say.
    payout_amount: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return (self.orders_amount + self.returns_amount + self.commission_amount + self.delivery_amount
                + self.services_amount)


class FeeClient:
    """What Odoo asks of a store's API client for the marketplace's money."""

    #: Operations one page holds at most (the fee import stores a page in one statement).
    fee_page_size: int = 1000

    def fees(self, date_from: datetime, date_to: datetime) -> Iterator[list[FeeOperation]]:
        """Pages of the operations booked from ``date_from`` to ``date_to`` (naive UTC), oldest
        period first. Stopping early is safe: an operation is the same at every read."""
        raise NotImplementedError

    def payouts(self, date_from: date, date_to: date) -> list[PayoutPeriod]:
        """The settlement periods that overlap ``date_from`` .. ``date_to``."""
        raise NotImplementedError
