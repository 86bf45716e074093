"""The fake Ozon's cancellation methods (see ``fake``): a mixin of FakeOzon.

The reasons a posting allows depend on its status, as Ozon's do: the seller's reasons while
it is being packed or waits for the courier, the delivery reasons (rFBS) while delivering,
none once delivered or cancelled. ``cancelled`` records what each cancel asked for.
"""
from __future__ import annotations

#: Ozon's FBS reasons (ids and titles as Ozon documents them).
REASONS = [
    {"id": 352, "title": "Product is out of stock", "type_id": "seller", "is_available_for_cancellation": True},
    {"id": 400, "title": "Only defective products left", "type_id": "seller", "is_available_for_cancellation": True},
    {"id": 401, "title": "Cancellation from arbitration", "type_id": "seller",
     "is_available_for_cancellation": False},
    {"id": 402, "title": "Other", "type_id": "seller", "is_available_for_cancellation": True},
    {"id": 665, "title": "The buyer did not pick up the order", "type_id": "seller",
     "is_available_for_cancellation": True},
    {"id": 666, "title": "Delivery is not available in the region", "type_id": "seller",
     "is_available_for_cancellation": True},
    {"id": 667, "title": "Order was lost by the carrier", "type_id": "seller", "is_available_for_cancellation": True},
]
PACKING_REASONS = (352, 400, 402)
DELIVERY_REASONS = (665, 666, 667, 402)
PACKING = ("awaiting_registration", "acceptance_in_progress", "awaiting_approve", "awaiting_packaging",
           "awaiting_verification", "awaiting_deliver")
DELIVERING = ("delivering", "driver_pickup", "sent_by_seller")


def _error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


class FakeOzonCancellation:
    """Adds its routes in ``handlers`` (calling super()) and its limits in ``limits``."""

    def __init__(self, *args, **kwargs):
        #: posting number -> {"reason_id", "message"} of each accepted cancel.
        self.cancelled: dict[str, dict] = {}
        super().__init__(*args, **kwargs)

    def handlers(self):
        return dict(super().handlers(), **{
            "/v1/posting/fbs/cancel-reason": self._cancel_reasons,
            "/v2/posting/fbs/cancel-reason/list": self._cancel_reason_list,
            "/v2/posting/fbs/cancel": self._cancel,
        })

    def reasons_for(self, posting: dict) -> list[int]:
        """The reason ids the posting allows now."""
        if posting.get("substatus") == "posting_conditionally_delivered":
            return []
        if posting["status"] in PACKING:
            return list(PACKING_REASONS)
        if posting["status"] in DELIVERING:
            return list(DELIVERY_REASONS)
        return []

    def cancel_posting(self, number: str, reason_id: int = 352, reason: str = "", after_ship: bool = False,
                       initiator: str = "ozon") -> dict:
        """Ozon (or the buyer) cancels a posting: a test helper."""
        title = reason or next((r["title"] for r in REASONS if r["id"] == reason_id), "")
        posting = self.postings[number]
        if posting.get("_scheme") == "fbo":
            return self.set_status(number, "cancelled", cancel_reason_id=reason_id)
        return self.set_status(number, "cancelled", substatus="posting_canceled", cancellation={
            "cancel_reason_id": reason_id, "cancel_reason": title, "cancellation_type": initiator,
            "cancelled_after_ship": after_ship, "affect_cancellation_rating": False,
            "cancellation_initiator": initiator})

    def _fbs(self, number) -> dict | None:
        posting = self.postings.get(number) if isinstance(number, str) else None
        return posting if posting and posting.get("_scheme") == "fbs" else None

    def _cancel_reasons(self, body: dict) -> tuple:
        numbers = body.get("related_posting_numbers")
        if not isinstance(numbers, list) or not numbers:
            return 400, _error(3, "related_posting_numbers is required")
        by_id = {r["id"]: r for r in REASONS}
        result = []
        for number in numbers:
            posting = self._fbs(number)
            if posting is None:
                return 404, _error(5, "POSTING_NOT_FOUND")
            result.append({"posting_number": number, "reasons": [
                {"id": i, "title": by_id[i]["title"], "type_id": by_id[i]["type_id"]}
                for i in self.reasons_for(posting)]})
        return 200, {"result": result}

    def _cancel_reason_list(self, _body: dict) -> tuple:
        return 200, {"result": [dict(r) for r in REASONS]}

    def _cancel(self, body: dict) -> tuple:
        number, reason_id = body.get("posting_number"), body.get("cancel_reason_id")
        message = body.get("cancel_reason_message") or ""
        if not isinstance(number, str) or not isinstance(reason_id, int):
            return 400, _error(3, "posting_number and cancel_reason_id are required")
        posting = self._fbs(number)
        if posting is None:
            return 404, _error(5, "POSTING_NOT_FOUND")
        if posting["status"] == "cancelled":
            return 400, _error(3, "POSTING_ALREADY_CANCELLED")
        if posting["status"] == "delivered" or posting.get("substatus") == "posting_conditionally_delivered":
            return 400, _error(3, "HAS_INCORRECT_STATUS: a delivered posting cannot be cancelled")
        if reason_id == 402 and not str(message).strip():
            return 400, _error(3, "cancel_reason_message is required for cancel_reason_id 402")
        if reason_id not in self.reasons_for(posting):
            return 400, _error(3, "HAS_INCORRECT_CANCEL_REASON")
        title = next(r["title"] for r in REASONS if r["id"] == reason_id)
        self.set_status(number, "cancelled", substatus="posting_canceled", cancellation={
            "cancel_reason_id": reason_id, "cancel_reason": title, "cancellation_type": "seller",
            "cancelled_after_ship": False, "affect_cancellation_rating": True, "cancellation_initiator": "seller"})
        self.cancelled[number] = {"reason_id": reason_id, "message": message}
        return 200, {"result": True}
