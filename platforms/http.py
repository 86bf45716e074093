"""One HTTP client for every store API: timeouts, retries with back-off, ``Retry-After``.

Store APIs fail in the same few ways (rate limits, overloaded servers, dropped
connections); each platform client gets them handled once, here, and sees either a
response or an :class:`ApiError` that says what went wrong in words a merchant can act on.
"""
from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .base import PlatformError


class ApiError(PlatformError):
    """The store's API answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, body: str = "", url: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body
        self.url = url


class ApiAuthError(ApiError):
    """401/403: the credentials are wrong or lack a permission."""


class ApiRateLimited(ApiError):
    """429 still, after the retries: the store's rate limit was hit."""


class ApiUnavailable(ApiError):
    """5xx still, or no connection, after the retries."""


class ApiBadAnswer(ApiError, ValueError):
    """A success status with a body that is not the JSON the API speaks: an HTML page (a
    wrong URL, a maintenance or login page in front of the API), or nothing at all.

    Also a ``ValueError``, as the ``requests`` error it stands for, so that code written
    for ``requests`` (``except ValueError`` around ``.json()``) keeps working."""


class StoreResponse(requests.Response):
    """The responses of :class:`HttpClient`: ``json()`` raises :class:`ApiBadAnswer`,
    which says what came instead, rather than ``requests``' bare decoding error."""

    def json(self, **kwargs) -> Any:
        try:
            return super().json(**kwargs)
        except ValueError as exc:
            raise ApiBadAnswer(_not_json(self), self.status_code, self.text[:2000], self.url) from exc


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    #: First wait in seconds, doubled at each attempt unless the store says Retry-After.
    backoff: float = 0.5
    #: Longest single wait; a longer Retry-After is not waited for (the job retries later).
    max_wait: float = 30.0
    statuses: tuple = (429, 500, 502, 503, 504)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):  # not a number: an HTTP date, read below
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """A ``requests`` session bound to one store's base URL."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        timeout: float | tuple = (5, 30),
        retry: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.session = session or requests.Session()
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth
        self._sleep = sleep
        #: Seconds waited for the store, and requests made, across this client's life.
        self.waited = 0.0
        self.calls = 0

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self.url(path)
        last_error: ApiError | None = None
        for attempt in range(self.retry.attempts):
            final = attempt == self.retry.attempts - 1
            self.calls += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                    requests.exceptions.InvalidURL) as exc:
                # No request could be made (a store URL without https://, a malformed one):
                # trying again cannot help, mending the channel's store URL does.
                raise ApiError(f"{method} {url}: not a URL the store can be reached at ({exc})", url=url) from exc
            except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidJSONError, ValueError) as exc:
                # A header or body that cannot be sent. Its text is not repeated: it may quote a
                # credential (an API key pasted with a line break or an accented letter).
                raise ApiError(f"{method} {url}: the request could not be made ({type(exc).__name__}): check "
                               "the API credentials for spaces, line breaks or accented letters", url=url) from exc
            except requests.RequestException as exc:
                # No connection, no answer in time, or an answer cut short.
                last_error = ApiUnavailable(f"{method} {url}: no answer ({type(exc).__name__})", url=url)
                if final:
                    raise last_error from exc
                self._wait(self.retry.backoff * 2 ** attempt)
                continue
            # The platform clients read the answers themselves (page by page): each of them
            # gets an ApiError for an answer that is not JSON, not a bare decoding error.
            response.__class__ = StoreResponse
            if response.status_code in self.retry.statuses and not final:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is None:
                    wait = self.retry.backoff * 2 ** attempt
                if wait > self.retry.max_wait:
                    # Longer than a job should block: fail now, the job's own retry comes later.
                    raise self._error(method, url, response)
                self._wait(wait)
                continue
            if response.status_code >= 400:
                raise self._error(method, url, response)
            return response
        raise last_error or ApiUnavailable(f"{method} {url}: no answer", url=url)

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self._sleep(seconds)

    @staticmethod
    def _error(method: str, url: str, response: requests.Response) -> ApiError:
        status = response.status_code
        body = response.text[:2000]
        detail = _error_detail(response)
        message = f"{method} {url}: HTTP {status}" + (f" — {detail}" if detail else "")
        if status in (401, 403):
            return ApiAuthError(message, status, body, url)
        if status == 429:
            return ApiRateLimited(message, status, body, url)
        if status >= 500:
            return ApiUnavailable(message, status, body, url)
        return ApiError(message, status, body, url)

    def get_json(self, path: str, **kwargs) -> Any:
        return _read(self.request("GET", path, **kwargs))

    def post_json(self, path: str, data: Any, **kwargs) -> Any:
        return _read(self.request("POST", path, json=data, **kwargs))

    def pages(self, path: str, params: Mapping[str, Any] | None = None,
              next_page: Callable[[requests.Response, dict], tuple[str, dict] | None] = None,
              ) -> Iterator[requests.Response]:
        """Every page of a listing; ``next_page`` tells from one answer where the next is."""
        request_path, request_params = path, dict(params or {})
        while True:
            response = self.request("GET", request_path, params=request_params)
            yield response
            following = next_page(response, request_params) if next_page else None
            if not following:
                return
            request_path, request_params = following


def _read(response: StoreResponse) -> Any:
    """The JSON of an answer; ``None`` for 204 No Content, the one success that has no body
    (anything else without JSON is an :class:`ApiBadAnswer`)."""
    if response.status_code == 204:
        return None
    return response.json()


def _not_json(response: requests.Response) -> str:
    """What came instead of JSON, in words a merchant can act on (no more of the body than
    its first words: a page is not a place for customer data, but may be long)."""
    where = f"{response.request.method} {response.url}" if response.request is not None else response.url
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    text = response.text.strip()
    if not text:
        return f"{where}: HTTP {response.status_code} with an empty answer where JSON was expected"
    if "html" in kind or text[:1] == "<":
        return (f"{where}: HTTP {response.status_code} with an HTML page instead of JSON (check the store "
                f"URL, and whether the shop is in maintenance mode): {' '.join(text[:120].split())}")
    return f"{where}: HTTP {response.status_code} with an answer that is not JSON ({kind or 'no type'})"


def _error_detail(response: requests.Response) -> str:
    """The store's own words for the error, when its body has them."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(data, dict):
        for key in ("message", "error_description", "errors", "error"):
            if data.get(key):
                value = data[key]
                return value if isinstance(value, str) else str(value)[:200]
    return ""
