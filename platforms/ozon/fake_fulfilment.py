"""The fake Ozon's fulfilment methods (see ``fake``): a mixin of FakeOzon.

``/v4/posting/fbs/ship`` packs a posting as Ozon does (products by Ozon SKU, every unit in
the packages, the requirements filled, only from ``awaiting_packaging``);
``/v2/posting/fbs/package-label`` answers a small PDF of one page per posting, at most 20
postings, none when one of them fails, "not ready" until ``label_delay`` after packing.
"""
from __future__ import annotations

import base64
import zlib
from datetime import timedelta

from ..testing import Recorded

PACKED = frozenset({"awaiting_deliver", "arbitration", "client_arbitration", "sent_by_seller", "driver_pickup",
                    "not_accepted", "delivering", "delivered"})


def _error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


class RawAnswer:
    """A body that is not JSON, with its own headers (the label's PDF)."""

    def __init__(self, body: bytes, headers: dict):
        self.body = body
        self.headers = headers


def label_pdf(numbers: list[str], named: bool = True) -> bytes:
    """A valid PDF of one page per posting, each page saying its posting number (``named``;
    else no page names one, as a layout the pages cannot be told apart by)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", None,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    pages = []
    for number in numbers:
        # Unnamed: a parcel code of its own, not the posting number.
        caption = f"Ozon label {number}" if named else f"Ozon parcel {zlib.crc32(number.encode())}"
        text = f"BT /F1 14 Tf 20 100 Td ({caption}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
        content = len(objects)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 283 212] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % content)
        pages.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % page for page in pages), len(pages))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (index, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class FakeOzonFulfilment:
    """Adds its routes in ``handlers`` (calling super()) and its limits in ``limits``.

    ``label_delay``: how long after packing a posting's label is "not ready" (Ozon advises
    asking 45–60 s after); ``label_format``: "pdf" (the answer is the PDF) or "json" (base64
    ``file_content``), the two forms Ozon's answer is read in; ``label_pages_named``: whether
    each page names its posting (False: a PDF of several postings cannot be split by page)."""

    MAX_LABELS = 20
    label_delay = timedelta(seconds=45)
    label_format = "pdf"
    label_pages_named = True

    def handlers(self):
        return dict(super().handlers(), **{
            "/v4/posting/fbs/ship": self._fbs_ship,
            "/v2/posting/fbs/package-label": self._package_label,
        })

    def _guarded(self, path, handler):
        answer = super()._guarded(path, handler)

        def with_raw(request: Recorded) -> tuple:
            status, headers, payload = answer(request)
            if isinstance(payload, RawAnswer):
                return status, dict(headers, **payload.headers), payload.body
            return status, headers, payload
        return with_raw

    # -- ship ----------------------------------------------------------------------------------
    def _fbs_ship(self, body: dict) -> tuple:
        number = body.get("posting_number")
        packages = body.get("packages")
        if not isinstance(number, str) or not isinstance(packages, list) or not packages:
            return 400, _error(3, "posting_number and packages are required")
        posting = self.postings.get(number)
        if not posting or posting["_scheme"] != "fbs":
            return 404, _error(5, "POSTING_NOT_FOUND")
        if posting["status"] == "cancelled":
            return 400, _error(3, "POSTING_ALREADY_CANCELLED")
        if posting["status"] in PACKED:
            return 400, _error(3, "POSTING_ALREADY_SHIPPED")
        if posting["status"] != "awaiting_packaging":
            return 400, _error(3, "HAS_INCORRECT_STATUS")
        if any(posting["requirements"].get(key) for key in posting.get("requirements") or {}):
            return 400, _error(3, "EXEMPLAR_INFO_NOT_FILLED_COMPLETELY")
        wanted: dict = {}
        for product in posting["products"]:
            wanted[product["sku"]] = wanted.get(product["sku"], 0) + product["quantity"]
        packed: dict = {}
        for package in packages:
            for product in (package or {}).get("products") or []:
                sku, quantity = product.get("product_id"), product.get("quantity")
                if sku not in wanted:
                    return 400, _error(3, "UNKNOWN_PRODUCT_DEFINED: make sure you specify product SKU "
                                          "in the product_id field")
                if not isinstance(quantity, int) or quantity < 1:
                    return 400, _error(3, "HAS_INCORRECT_PRODUCT_QUANTITY")
                packed[sku] = packed.get(sku, 0) + quantity
        if packed != wanted:
            return 400, _error(3, "HAS_INCORRECT_PRODUCT_QUANTITY")
        self.set_status(number, "awaiting_deliver", _packed_at=self.now(), available_actions=["cancel"])
        return 200, {"result": [number], "additional_data": [
            {"posting_number": number, "products": [dict(p) for p in posting["products"]]}]}

    # -- labels --------------------------------------------------------------------------------
    def _package_label(self, body: dict) -> tuple:
        numbers = body.get("posting_number")
        if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
            return 400, _error(3, "posting_number is required")
        if len(numbers) > self.MAX_LABELS:
            return 400, _error(3, f"posting_number: at most {self.MAX_LABELS} postings per request")
        not_ready = []
        for number in numbers:
            posting = self.postings.get(number)
            if not posting or posting["_scheme"] != "fbs":
                return 404, _error(5, "POSTING_NOT_FOUND")
            if posting["status"] != "awaiting_deliver":
                # Ozon makes no label unless the posting is packed, and none for the others.
                return 400, _error(3, "label not allowed for postings in this status")
            packed = posting.get("_packed_at")
            if packed and self.now() - packed < self.label_delay:
                not_ready.append(number)
        if not_ready:
            return 400, _error(3, "The next postings aren't ready: " + ", ".join(not_ready))
        pdf = label_pdf(numbers, named=self.label_pages_named)
        if self.label_format == "json":
            return 200, {"content_type": "application/pdf", "file_name": f"ticket-{numbers[0]}.pdf",
                         "file_content": base64.b64encode(pdf).decode()}
        return 200, RawAnswer(pdf, {"Content-Type": "application/pdf"})
