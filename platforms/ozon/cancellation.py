"""Ozon cancellations: the live reasons a posting may be cancelled for, and cancelling an FBS
posting for one of them.

Facts used, from Ozon's documentation: ``/v1/posting/fbs/cancel-reason`` takes
``related_posting_numbers`` and answers, per posting, the reasons allowed now (``id``,
``title``, ``type_id``); ``/v2/posting/fbs/cancel-reason/list`` (no body) lists every reason
with ``is_available_for_cancellation``; ``/v2/posting/fbs/cancel`` takes ``posting_number``,
``cancel_reason_id`` and ``cancel_reason_message``, the message being required for reason 402
("other"), and answers ``{"result": true}``; a reason the posting does not allow is refused
with ``HAS_INCORRECT_CANCEL_REASON``; conditionally delivered postings cannot be cancelled.
The reasons change with the posting's status: they are read live, never hard-coded (402 is
the one id Ozon documents a rule for).
"""
from __future__ import annotations

from ..base import StatusUpdate
from .api import OzonApi, OzonError

#: Ozon's "other" reason: it needs the merchant's own words.
OTHER_REASON = "402"
#: Longest text sent as ``cancel_reason_message``.
MESSAGE_MAX = 500


class OzonCancelRefused(OzonError):
    """Refused here, before asking Ozon: the cancellation lacks what Ozon requires."""


def is_already_cancelled(exc: OzonError) -> bool:
    text = f"{exc.code} {exc.ozon_message}".upper().replace(" ", "_")
    return "ALREADY_CANCELLED" in text or "ALREADY_CANCELED" in text


def check_reason(reason_code: str, reason_text: str) -> None:
    """OzonCancelRefused when a cancellation cannot be sent as it is: no reason, or 402
    without a message."""
    if not str(reason_code or "").strip():
        raise OzonCancelRefused("Ozon: a cancellation needs one of Ozon's reasons; none was given, "
                                "Ozon was not asked")
    if str(reason_code).strip() == OTHER_REASON and not str(reason_text or "").strip():
        raise OzonCancelRefused("Ozon: the reason 'other' (402) needs a message; Ozon was not asked")


class OzonCancellation(OzonApi):

    def cancel_reasons(self, posting_numbers: list[str]) -> dict[str, list[dict]]:
        """{posting number: [{"id", "title", "type_id"}]}: the reasons each posting may be
        cancelled for now (ids as text). A posting Ozon does not name gets an empty list."""
        numbers = [str(n) for n in posting_numbers if n]
        result = self.result("/v1/posting/fbs/cancel-reason", {"related_posting_numbers": numbers})
        reasons: dict[str, list[dict]] = {number: [] for number in numbers}
        for item in result if isinstance(result, list) else []:
            if not isinstance(item, dict) or not item.get("posting_number"):
                continue
            reasons[str(item["posting_number"])] = [
                {"id": str(reason.get("id")), "title": str(reason.get("title") or reason.get("id")),
                 "type_id": str(reason.get("type_id") or "")}
                for reason in item.get("reasons") or [] if isinstance(reason, dict) and reason.get("id") is not None]
        return reasons

    def cancel_reason_list(self) -> list[dict]:
        """Every FBS cancellation reason Ozon knows: ``{"id", "title", "type_id", "available"}``."""
        result = self.result("/v2/posting/fbs/cancel-reason/list")
        return [{"id": str(r.get("id")), "title": str(r.get("title") or r.get("id")),
                 "type_id": str(r.get("type_id") or ""), "available": bool(r.get("is_available_for_cancellation"))}
                for r in result if isinstance(r, dict) and r.get("id") is not None] if isinstance(result, list) else []

    def cancel(self, update: StatusUpdate) -> str:
        """Cancel the FBS posting ``update.external_id`` for ``update.reason_code`` (an id of
        its live reasons) with ``update.reason_text``. A cancellation without a reason, or a
        402 without a message, is refused here: Ozon is not asked. A posting Ozon already
        cancelled is taken as done."""
        check_reason(update.reason_code, update.reason_text)
        code = str(update.reason_code).strip()
        if not code.isdigit():
            raise OzonCancelRefused(f"Ozon: {code!r} is not one of Ozon's reason ids; Ozon was not asked")
        body = {"posting_number": update.external_id, "cancel_reason_id": int(code),
                "cancel_reason_message": (update.reason_text or "").strip()[:MESSAGE_MAX]}
        try:
            self.result("/v2/posting/fbs/cancel", body)
        except OzonError as exc:
            if is_already_cancelled(exc):
                return "already cancelled in Ozon"
            raise
        return f"status cancelled, reason {code}"
