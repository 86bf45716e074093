"""One HTTP client for every store API: timeouts, retries with back-off, ``Retry-After``.

Store APIs fail in the same few ways (rate limits, overloaded servers, dropped
connections); each platform client gets them handled once, here, and sees either a
response or an :class:`ApiError` that says what went wrong in words a merchant can act on.
"""
from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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


class ApiRedirected(ApiError):
    """3xx: the store sent us elsewhere. Not followed: the credentials go to the address set
    on the channel and nowhere else (a redirect to another host would hand it the token)."""

    def __init__(self, message: str, status: int | None = None, url: str = "", location: str = ""):
        super().__init__(message, status, "", url)
        self.location = location


class ApiOtherAddress(ApiError):
    """The store pointed at an address (a next page) on another scheme, host or port than its
    own. Not followed, for the same reason as a redirect."""


class ApiAddressRefused(ApiError):
    """The store's host is, or resolves to, an address that is not a store's: this server
    itself, the private network, a cloud's metadata service. Nothing was sent to it."""


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


#: An absolute URL (a scheme, or ``//`` and a host): a relative path is the base URL's.
_ABSOLUTE = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|[/\\]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple:
    """Scheme, host and port of ``url``, written one way (``None`` where it has none that
    can be read: then it is no store's)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number, a malformed IPv6 address
        return None, None, None
    with contextlib.suppress(ValueError):  # a name, not an IP address
        host = ipaddress.ip_address(host).compressed
    return scheme, host, port or _DEFAULT_PORTS.get(scheme)


#: The name of the allowance in a channel's ``credentials`` mapping (see ``client_options``).
ALLOW_PRIVATE_ADDRESSES = "allow_private_addresses"


#: Cloud metadata services (they hand out the machine's credentials) that are not link-local:
#: refused whatever the allowance, as link-local addresses (169.254.169.254 and the like) are.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "fd00:ec2::254",  # AWS, over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud (classic)
    "168.63.129.16",  # Azure's platform address (WireServer)
))

#: IPv6 ranges whose addresses carry an IPv4 address that they lead to (by a translator or a
#: tunnel); ``ipaddress`` reads 6to4, Teredo and IPv4-mapped ones itself.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 prefixes (RFC 8215)
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291), :: and ::1 aside


def address_refusal(address: str, allow_private: bool = False) -> str:
    """Why a store may not be reached at the IP ``address`` ('' when it may).

    Stores are on the internet. A store URL that leads to this server, to the private network
    or to a cloud's metadata service would let whoever types store URLs reach services that
    trust the network. ``allow_private`` admits loopback and private ranges (a store, or the
    demo and the tests, on the local network); link-local addresses (169.254.169.254 serves
    cloud credentials), the other metadata services' (``METADATA_ADDRESSES``), unspecified and
    multicast ones stay refused whatever the setting. An IPv6 address that carries an IPv4
    address (NAT64, 6to4, Teredo, IPv4-mapped, -compatible or -translated) is judged by it.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if ip in _NAT64_LOCAL:
        return _nat64_local_refusal(ip, allow_private)
    for carried in _carried_ipv4(ip):
        reason = _refusal(carried, allow_private)
        if reason:
            return f"{carried} in IPv6 form, {reason}"
    return "" if _carried_ipv4(ip) else _refusal(ip, allow_private)


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata service's address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_loopback:
        kind = "a loopback address (this server itself)"
    elif ip.is_private or not ip.is_global:
        kind = "a private or reserved address"
    else:
        return ""
    return "" if allow_private else kind + ", and private store addresses are not allowed"


def _carried_ipv4(ip) -> list:
    """The IPv4 addresses an IPv6 address leads to (a Teredo address: its server's and its
    client's); none for a plain IPv6 address."""
    if ip.version == 4:
        return []
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _nat64_local_refusal(ip: ipaddress.IPv6Address, allow_private: bool) -> str:
    """A local-use NAT64 prefix is a translator of the network this server is on: private.
    Where it puts the IPv4 address depends on its length (/48 to /96), so with the allowance
    every place is read, and one holding an address refused always refuses the address."""
    if not allow_private:
        return "a local NAT64 translator's address (the private network), and private store addresses are not allowed"
    packed = ip.packed
    squeezed = packed[:8] + packed[9:]  # RFC 6052 skips bits 64-71 below a /96 prefix
    for carried in [ipaddress.IPv4Address(squeezed[start:start + 4]) for start in (6, 7, 8)] + \
            [ipaddress.IPv4Address(packed[12:])]:
        if not carried.is_unspecified:  # the zeros of a longer prefix's place
            reason = _refusal(carried, allow_private)
            if reason:
                return f"{carried} in IPv6 form, {reason}"
    return ""


class _AddressRefused(Exception):
    """Raised by a connection to a refused address, before anything is sent on it; the
    client turns it into an :class:`ApiAddressRefused` naming the request."""

    def __init__(self, host: str, address: str, reason: str):
        super().__init__(f"{host} is {address}, {reason}" if host != address else f"{address} is {reason}")


def _check_address(host: str, address: str, allow_private: bool) -> None:
    reason = address_refusal(address.split("%")[0], allow_private)
    if reason:
        raise _AddressRefused(host, address, reason)


def _check_host(host: str, allow_private: bool) -> None:
    """Every address ``host`` resolves to (a connection may use any of them)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return  # nothing to connect to: the connection fails by itself
    for address in sorted(addresses):
        _check_address(host, address, allow_private)


class _PeerChecked:
    """A urllib3 connection to allowed addresses only: the host's addresses are checked
    before connecting (no packet reaches a refused one), and the address connected to after
    (a DNS name may answer differently the second time).

    On a direct connection the second check is the one that holds, whatever DNS says: the
    socket's peer is the address the TCP connection was made to (of those the name resolved
    to, the one that answered), and it is checked here, before urllib3 starts TLS or writes a
    byte of the request. A name that rebinds between the two lookups gets at most a TCP
    handshake with a refused address, then the socket is closed: no credential, no request.

    Through a proxy ``requests`` builds its own pool manager, so these connections are not
    used and the peer would be the proxy anyway: the client checks the store's host as this
    server resolves it (``HttpClient._check_url``), and the proxy resolves it again. That
    case is the proxy's to close (readme/CONFIGURE.rst says how)."""

    allow_private = False

    def _new_conn(self):
        direct = getattr(self, "proxy", None) is None
        if direct:
            _check_host(self.host, self.allow_private)
        sock = super()._new_conn()
        if direct:
            try:
                _check_address(self.host, sock.getpeername()[0], self.allow_private)
            except BaseException:
                sock.close()
                raise
        return sock


def _checked_pools(allow_private: bool) -> dict:
    pools = {}
    for scheme, pool in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool)):
        connection = type(f"PeerChecked{pool.ConnectionCls.__name__}", (_PeerChecked, pool.ConnectionCls),
                          {"allow_private": allow_private})
        pools[scheme] = type(f"PeerChecked{pool.__name__}", (pool,), {"ConnectionCls": connection})
    return pools


_CHECKED_POOLS = {False: _checked_pools(False), True: _checked_pools(True)}


class _CheckedAdapter(HTTPAdapter):
    """The ``requests`` adapter whose connections check their peer's address."""

    def __init__(self, allow_private: bool, **kwargs):
        self.allow_private = allow_private  # read by init_poolmanager, which __init__ calls
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        result = super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _CHECKED_POOLS[self.allow_private]
        return result


def client_options(credentials: Mapping[str, Any], options: Mapping[str, Any]) -> dict:
    """The :class:`HttpClient` options of a channel's client: ``options``, with the channel's
    address allowance (``credentials[ALLOW_PRIVATE_ADDRESSES]``) unless they set it."""
    return {ALLOW_PRIVATE_ADDRESSES: bool(credentials.get(ALLOW_PRIVATE_ADDRESSES)), **options}


class HttpClient:
    """A ``requests`` session bound to one store's base URL.

    It follows no redirect (a 3xx is an :class:`ApiRedirected`): its headers carry the
    store's credentials, which must reach the store's address only. It reaches public
    addresses only (see ``address_refusal``) unless ``allow_private_addresses``.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        timeout: float | tuple = (5, 30),
        retry: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        allow_private_addresses: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.allow_private_addresses = allow_private_addresses
        self.session = session or requests.Session()
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, _CheckedAdapter(allow_private_addresses))
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth
        self._sleep = sleep
        #: Seconds waited for the store, and requests made, across this client's life.
        self.waited = 0.0
        self.calls = 0

    def url(self, path: str) -> str:
        """The address of ``path``, relative to the base URL, or absolute on the store's own
        scheme, host and port: page links (Shopify's ``Link``, Mozello's ``next_page_uri``)
        are the store's words, and the session sends the credentials wherever they lead."""
        if not _ABSOLUTE.match(path):
            return f"{self.base_url}/{path.lstrip('/')}"
        if _origin(path) != _origin(self.base_url):
            raise ApiOtherAddress(
                f"{_clean(path, 300)}: another address than the store's ({_clean(self.base_url, 300)}), not "
                "followed: the credentials go to the store URL set on the channel only.", url=path)
        return path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self.url(path)
        # Never followed: see the class's docstring.
        kwargs["allow_redirects"] = False
        last_error: ApiError | None = None
        for attempt in range(self.retry.attempts):
            final = attempt == self.retry.attempts - 1
            self.calls += 1
            try:
                self._check_url(url)
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except _AddressRefused as exc:
                # Said without the service's answer: none was asked for.
                raise ApiAddressRefused(f"{method} {url}: refused, {exc}", url=url) from None
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
            if 300 <= response.status_code < 400:
                raise self._redirected(method, url, response)
            return response
        raise last_error or ApiUnavailable(f"{method} {url}: no answer", url=url)

    def _check_url(self, url: str) -> None:
        """What can be checked before the request: an IP address written in the URL, and,
        through a proxy, the store's host as this machine resolves it (the connections check
        their own addresses otherwise; here they are the proxy's). Through a proxy this is
        the only check: the proxy looks the name up again and connects where its answer
        says, so a name whose DNS answers differently the second time (rebinding), or
        differently for the proxy, is not caught here: the proxy must refuse those addresses."""
        host = urlsplit(url).hostname
        if not host:
            return
        with contextlib.suppress(ValueError):  # a name, not an address: checked when connecting
            ipaddress.ip_address(host)
            _check_address(host, host, self.allow_private_addresses)
        settings = self.session.merge_environment_settings(url, {}, None, None, None)
        if requests.utils.select_proxy(url, settings["proxies"]):
            _check_host(host, self.allow_private_addresses)

    @staticmethod
    def _redirected(method: str, url: str, response: requests.Response) -> ApiRedirected:
        location = response.headers.get("Location") or ""
        target = urljoin(url, location) if location else "no address"
        return ApiRedirected(
            f"{method} {url}: HTTP {response.status_code}, a redirect to {target}, not followed: the "
            "credentials go to the store URL set on the channel only. If the store moved, set its new "
            "address (https://, the shop's own domain).",
            response.status_code, url, location)

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
                f"URL, and whether the shop is in maintenance mode): {_clean(text, 120)}")
    return f"{where}: HTTP {response.status_code} with an answer that is not JSON ({kind or 'no type'})"


def _error_detail(response: requests.Response) -> str:
    """The store's own words for the error, when its body has them."""
    try:
        data = response.json()
    except ValueError:
        return _clean(response.text)
    if isinstance(data, dict):
        for key in ("message", "error_description", "errors", "error"):
            if data.get(key):
                value = data[key]
                return _clean(value if isinstance(value, str) else str(value))
    return ""


def _clean(text: str, limit: int = 200) -> str:
    """The store's words on one line, and not many of them: they go into error messages shown
    to merchants and into logs, where a line break would start a line that looks like ours."""
    words = " ".join(text[:limit * 4].split())
    return words if len(words) <= limit else words[:limit - 1] + "…"
