"""Ozon Seller API transport: POST + JSON, ``Client-Id``/``Api-Key`` headers, Ozon's errors.

Facts used, from Ozon's documentation: every method is ``POST`` with a JSON body at
``https://api-seller.ozon.ru``; dates are UTC; an error body is ``{"code", "message",
"details"}`` (older methods answer ``{"error": {"code", "message", "data"}}``: both are read);
a rate limit is HTTP 429 (``code`` 8, "You have reached request rate limit per second"),
and "Circle is open" means the method is blocked for some minutes (waited for by the job's
own back-off, not here).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..http import ApiAuthError, ApiBadAnswer, ApiError, HttpClient, RetryPolicy

API_BASE = "https://api-seller.ozon.ru"


class OzonError(ApiError):
    """Ozon refused a request: ``code`` and ``ozon_message`` are its own words."""

    def __init__(self, message: str, status: int | None = None, body: str = "", url: str = "",
                 code: str = "", ozon_message: str = ""):
        super().__init__(message, status, body, url)
        self.code = code
        self.ozon_message = ozon_message


class OzonNotFound(OzonError):
    """Ozon has no such posting (or other object)."""


def error_of(exc: ApiError) -> tuple[str, str]:
    """(code, message) of an Ozon error answer, whichever of its two shapes; ('', '') when the
    body is not one."""
    try:
        data = json.loads(exc.body or "null")
    except ValueError:
        return "", ""
    if not isinstance(data, Mapping):
        return "", ""
    if isinstance(data.get("error"), Mapping):
        data = data["error"]
    code, message = data.get("code"), data.get("message")
    return ("" if code is None else str(code)), ("" if message is None else str(message))


def is_not_found(code: str, message: str) -> bool:
    text = f"{code} {message}".upper()
    return "NOT_FOUND" in text or "NOT FOUND" in text


class OzonApi:
    """One seller account's API: ``call`` is every method's way in."""

    def __init__(self, client_id: str, api_key: str, base_url: str = "", **http_options):
        http_options.setdefault("retry", RetryPolicy(attempts=4, backoff=1.0, max_wait=30.0))
        self.http = HttpClient(base_url or API_BASE,
                               headers={"Client-Id": client_id, "Api-Key": api_key,
                                        "Content-Type": "application/json"}, **http_options)

    def call(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer of ``POST path``; OzonError (OzonNotFound, ApiAuthError…) naming
        Ozon's code and message when it refuses."""
        response = self.post(path, body)
        data = response.json()
        if not isinstance(data, (dict, list)):
            raise ApiBadAnswer(f"Ozon {path}: the answer is not a JSON object", response.status_code,
                               response.text[:2000], response.url)
        return data

    def post(self, path: str, body: Mapping[str, Any] | None = None):
        """The answer of ``POST path`` as it came (a label is a PDF, not JSON); Ozon's refusals
        raised as in ``call``."""
        try:
            return self.http.request("POST", path, json=dict(body or {}))
        except ApiAuthError:
            raise
        except ApiError as exc:
            if exc.status is None or exc.status >= 500 or exc.status == 429:
                raise
            code, message = error_of(exc)
            kind = OzonNotFound if exc.status == 404 or is_not_found(code, message) else OzonError
            raise kind(f"Ozon {path}: {message or exc}" + (f" ({code})" if code else ""), exc.status,
                       exc.body, exc.url, code=code, ozon_message=message) from exc

    def result(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The ``result`` of an answer (Ozon wraps most answers in it)."""
        data = self.call(path, body)
        if not isinstance(data, dict) or "result" not in data:
            raise ApiBadAnswer(f"Ozon {path}: the answer has no result", None, str(data)[:2000])
        return data["result"]
