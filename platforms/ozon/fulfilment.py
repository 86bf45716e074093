"""Ozon FBS fulfilment: telling Ozon a posting is assembled, and its package labels.

Facts used, from Ozon's documentation:

* ``/v4/posting/fbs/ship`` packs a posting (``awaiting_packaging`` → ``awaiting_deliver``):
  ``{"posting_number", "packages": [{"products": [{"product_id", "quantity"}]}]}`` where
  ``product_id`` is the product's **Ozon SKU** (the posting's ``products[].sku``), not the
  seller's article; one object in ``packages`` per package (several split the posting). Its
  refusals: ``POSTING_ALREADY_SHIPPED``, ``POSTING_ALREADY_CANCELLED``, ``HAS_INCORRECT_STATUS``,
  ``HAS_INCORRECT_PRODUCT_QUANTITY``, ``UNKNOWN_PRODUCT_DEFINED``,
  ``EXEMPLAR_INFO_NOT_FILLED_COMPLETELY``.
* A posting whose ``requirements.products_requiring_gtd|country|mandatory_mark|rnpt`` lists
  products cannot be packed before that data is given (customs declaration number, country
  of manufacture, "Chestny ZNAK" marking code, RNPT): the seller does it in the seller
  account, or through the exemplar methods this module does not call.
* ``/v2/posting/fbs/package-label`` makes one PDF of the labels of at most 20 postings; if one
  of them fails, none is made; "The next postings aren't ready" means "ask again later"
  (Ozon advises 45–60 s after packing); labels exist only in ``awaiting_deliver``. Its answer
  is documented as JSON with a base64 ``file_content``, and some clients read it as the PDF
  itself: both are read, by the answer's Content-Type.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..base import StatusUpdate, batches
from ..http import ApiBadAnswer
from .api import OzonApi, OzonError, OzonNotFound

SHIP_PATH = "/v4/posting/fbs/ship"
LABEL_PATH = "/v2/posting/fbs/package-label"
#: Postings one label request takes.
LABEL_BATCH = 20
#: Ozon's status of an assembled posting (the store status the outbox sends).
ASSEMBLED = "awaiting_deliver"
#: Statuses a posting reaches once packed: asking to pack it again is done already.
PACKED_STATUSES = frozenset({ASSEMBLED, "arbitration", "client_arbitration", "sent_by_seller", "driver_pickup",
                             "not_accepted", "delivering", "delivered"})
ALREADY_SHIPPED = "POSTING_ALREADY_SHIPPED"
NOT_READY = "aren't ready"
#: The data Ozon may require per product before packing, as a seller account names it.
REQUIREMENTS = (
    ("products_requiring_gtd", "the customs declaration number (GTD)"),
    ("products_requiring_country", "the country of manufacture"),
    ("products_requiring_mandatory_mark", "the marking code (Chestny ZNAK)"),
    ("products_requiring_rnpt", "the RNPT (registration number of the batch)"),
)


class OzonNeedsData(OzonError):
    """The posting cannot be packed before the seller gives Ozon data about its products.

    A refusal (status 400, Ozon's own code for it): sending again changes nothing until a
    person has filled the data in."""


@dataclass
class PackageLabel:
    """One posting's answer of ``package_labels``: the PDF its labels came in (that of its
    request, which may hold other postings' labels too: ``batch`` names them), or
    ``not_ready`` (ask again later), or the ``error`` Ozon gave for it."""

    posting_number: str
    pdf: bytes = b""
    batch: tuple[str, ...] = ()
    not_ready: bool = False
    error: str = ""


class OzonFulfilment(OzonApi):

    # -- assembled ---------------------------------------------------------------------------

    def ship(self, update: StatusUpdate) -> str:
        """Tell Ozon the posting ``update.external_id`` is assembled, in one package holding
        all its products. Done already (packed, or further) is done: said, not an error."""
        number = update.external_id
        posting = self.posting(number, "fbs")
        if posting is None:
            raise OzonNotFound(f"Ozon has no FBS posting {number}", 404, code="POSTING_NOT_FOUND",
                               ozon_message="POSTING_NOT_FOUND")
        if posting.get("status") in PACKED_STATUSES:
            return f"status {ASSEMBLED}: posting {number} was assembled in Ozon already"
        missing = requirements_text(posting)
        if missing:
            raise OzonNeedsData(
                f"Ozon posting {number} cannot be marked assembled yet: Ozon needs {missing}. Fill it in "
                "for this posting in your Ozon seller account (FBS orders, the posting's products), "
                "then send 'assembled' again.", 400, code="EXEMPLAR_INFO_NOT_FILLED_COMPLETELY",
                ozon_message="requirements not filled")
        products = package_products(posting)
        try:
            self.call(SHIP_PATH, {"posting_number": number, "packages": [{"products": products}],
                                  "with": {"additional_data": True}})
        except OzonError as exc:
            if ALREADY_SHIPPED in f"{exc.code} {exc.ozon_message}".upper():
                return f"status {ASSEMBLED}: posting {number} was assembled in Ozon already"
            raise
        items = sum(product["quantity"] for product in products)
        return f"status {ASSEMBLED}: posting {number} assembled, one package of {items} item(s)"

    # -- labels --------------------------------------------------------------------------------

    def package_labels(self, posting_numbers: Iterable[str]) -> dict[str, PackageLabel]:
        """{posting number: PackageLabel} of each posting asked, in requests of at most 20.

        A request Ozon refuses is split in halves and each asked again, down to the posting
        at fault: its error is its own, the others' labels still come. An error of the whole
        account (credentials, rate limit, Ozon not answering) is raised."""
        numbers = list(dict.fromkeys(n for n in posting_numbers if n))
        labels: dict[str, PackageLabel] = {}
        for chunk in batches(numbers, LABEL_BATCH):
            self._labels(chunk, labels)
        return labels

    def _labels(self, numbers: list[str], labels: dict[str, PackageLabel]) -> None:
        try:
            pdf = self.label_pdf(numbers)
        except OzonError as exc:
            if len(numbers) == 1:
                labels[numbers[0]] = _failed(numbers[0], exc)
                return
            if NOT_READY in (exc.ozon_message or str(exc)):
                self._not_ready(numbers, exc, labels)
                return
            middle = len(numbers) // 2
            self._labels(numbers[:middle], labels)
            self._labels(numbers[middle:], labels)
            return
        for number in numbers:
            labels[number] = PackageLabel(number, pdf=pdf, batch=tuple(numbers))

    def _not_ready(self, numbers: list[str], exc: OzonError, labels: dict[str, PackageLabel]) -> None:
        """Some postings of the request are not ready. When Ozon's message names them, they
        wait and the others are asked again at once; else the whole request waits (it was
        most likely packed a moment ago: splitting it would only make more refused requests)."""
        text = exc.ozon_message or str(exc)
        named_in_text = set(re.findall(r"[\w-]+", text))
        named = [number for number in numbers if number in named_in_text]
        waiting = named if named and len(named) < len(numbers) else numbers
        for number in waiting:
            labels[number] = PackageLabel(number, not_ready=True)
        rest = [number for number in numbers if number not in waiting]
        if rest:
            self._labels(rest, labels)

    def label_pdf(self, numbers: list[str]) -> bytes:
        """The PDF of these postings' labels (at most 20), as Ozon gives it: the answer itself
        when it is a PDF, else the JSON's base64 ``file_content``."""
        response = self.post(LABEL_PATH, {"posting_number": list(numbers)})
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind == "application/pdf":
            return _checked_pdf(response.content, response)
        data = response.json()
        content = data.get("file_content") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(data.get("result"), dict):
            content = data["result"].get("file_content")
        if not isinstance(content, str) or not content:
            raise ApiBadAnswer(f"Ozon {LABEL_PATH}: the answer has no file_content", response.status_code,
                               response.text[:2000], response.url)
        try:
            pdf = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiBadAnswer(f"Ozon {LABEL_PATH}: file_content is not base64", response.status_code,
                               "", response.url) from exc
        return _checked_pdf(pdf, response)


def requirements_text(posting: dict) -> str:
    """What Ozon still needs before the posting can be packed, by product ('' if nothing):
    e.g. "the country of manufacture for Mug (SKU 123, article MUG-01)"."""
    requirements = posting.get("requirements") or {}
    if not isinstance(requirements, dict):
        return ""
    names = {product.get("sku"): product for product in posting.get("products") or [] if isinstance(product, dict)}
    parts = []
    for key, what in REQUIREMENTS:
        skus = requirements.get(key) or []
        if not isinstance(skus, list) or not skus:
            continue
        products = []
        for sku in skus:
            product = names.get(sku) or names.get(_int(sku)) or {}
            article = f", article {product['offer_id']}" if product.get("offer_id") else ""
            products.append(f"{product.get('name') or 'product'} (SKU {sku}{article})")
        parts.append(f"{what} for {', '.join(products)}")
    return "; ".join(parts)


def package_products(posting: dict) -> list[dict]:
    """The products of one package holding the whole posting: Ozon SKU and quantity (the same
    SKU on two lines is one product)."""
    quantities: dict[int, int] = {}
    for product in posting.get("products") or []:
        if not isinstance(product, dict):
            continue
        sku = _int(product.get("sku"))
        quantity = _int(product.get("quantity"))
        if not sku or not quantity:
            raise ApiBadAnswer(f"Ozon posting {posting.get('posting_number')}: a product has no SKU or quantity")
        quantities[sku] = quantities.get(sku, 0) + quantity
    if not quantities:
        raise ApiBadAnswer(f"Ozon posting {posting.get('posting_number')}: no products to pack")
    return [{"product_id": sku, "quantity": quantity} for sku, quantity in quantities.items()]


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _failed(number: str, exc: OzonError) -> PackageLabel:
    if NOT_READY in (exc.ozon_message or str(exc)):
        return PackageLabel(number, not_ready=True)
    return PackageLabel(number, error=str(exc))


def _checked_pdf(pdf: bytes, response) -> bytes:
    if not pdf.startswith(b"%PDF"):
        raise ApiBadAnswer(f"Ozon {LABEL_PATH}: the label is not a PDF", response.status_code, "", response.url)
    return pdf
