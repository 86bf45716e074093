"""Where the store clients send the channel's credentials: to the store's address only.

No redirect is followed (a store answering 302 to another host would hand it the token), and
no request goes to this server, the private network or a cloud's metadata service unless the
channel allows private addresses (the fake stores here run on 127.0.0.1, so most tests do).
"""
import ipaddress

import pytest

from platforms import get
from platforms.http import (
    ApiAddressRefused,
    ApiError,
    ApiRedirected,
    HttpClient,
    RetryPolicy,
    address_refusal,
)
from platforms.testing import ALLOW_LOCAL, FakeStore


@pytest.fixture
def store():
    with FakeStore() as fake:
        yield fake


@pytest.fixture
def elsewhere():
    """The host a redirect points to: it records what reaches it."""
    with FakeStore() as fake:
        yield fake


def redirect(store, method, path, target, status=302):
    store.route(method, path, status=status, headers={"Location": f"{target.url}/steal{path}"})


def shopify(store, elsewhere):
    redirect(store, "GET", "/admin/api/2025-01/shop.json", elsewhere)
    return get("shopify").client({"store_url": store.url, "api_secret": "shpat_secret", **ALLOW_LOCAL},
                                 retry=RetryPolicy(attempts=1))


def idosell(store, elsewhere):
    redirect(store, "POST", "/api/admin/v6/orders/orders/search", elsewhere)
    return get("idosell").client({"store_url": store.url, "api_secret": "ido-secret", **ALLOW_LOCAL},
                                 retry=RetryPolicy(attempts=1))


@pytest.mark.parametrize("make_client", [shopify, idosell], ids=["shopify", "idosell"])
def test_a_redirect_to_another_host_is_not_followed_and_names_its_target(store, elsewhere, make_client):
    client = make_client(store, elsewhere)
    with pytest.raises(ApiRedirected) as caught:
        client.test_connection()
    assert elsewhere.requests == []
    assert f"{elsewhere.url}/steal/" in str(caught.value)
    assert caught.value.status == 302
    assert caught.value.location.startswith(f"{elsewhere.url}/steal/")


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_no_redirect_of_any_kind_is_followed_whatever_the_method(store, elsewhere, status):
    redirect(store, "POST", "/orders", elsewhere, status)
    http = HttpClient(store.url, headers={"X-API-KEY": "k"}, retry=RetryPolicy(attempts=1), **ALLOW_LOCAL)
    with pytest.raises(ApiError, match=f"HTTP {status}, a redirect to {elsewhere.url}/steal/orders"):
        http.post_json("orders", {"a": 1})
    assert elsewhere.requests == []


def test_a_relative_redirect_is_named_as_the_address_it_leads_to(store):
    store.route("GET", "/orders", status=302, headers={"Location": "/login?next=orders"})
    http = HttpClient(store.url, retry=RetryPolicy(attempts=1), **ALLOW_LOCAL)
    with pytest.raises(ApiRedirected, match=f"a redirect to {store.url}/login\\?next=orders"):
        http.get_json("orders")
    assert len(store.requests) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_store_on_this_server_is_refused_without_the_allowance(store, host):
    url = store.url.replace("127.0.0.1", host)
    client = get("shopify").client({"store_url": url, "api_secret": "shpat_secret"})
    with pytest.raises(ApiAddressRefused, match="a loopback address .*private store addresses are not allowed"):
        client.test_connection()
    assert store.requests == []


def test_a_store_on_this_server_is_reached_with_the_allowance(store):
    store.route("GET", "/admin/api/2025-01/shop.json", json={"shop": {"name": "Local shop"}})
    client = get("shopify").client({"store_url": store.url, "api_secret": "shpat_secret", **ALLOW_LOCAL})
    assert client.test_connection() == "Local shop"


def test_the_allowance_can_be_given_as_an_option_too(store):
    store.route("GET", "/wp-json/wc/v3/orders", json=[])
    credentials = {"store_url": store.url, "api_login": "k", "api_secret": "s"}
    client = get("woocommerce").client(credentials, allow_private_addresses=True)
    assert client.test_connection() == store.url
    with pytest.raises(ApiAddressRefused):
        get("woocommerce").client(credentials).test_connection()


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://[fe80::1]:80/",
    "http://0.0.0.0:80/",
    "http://224.0.0.1:80/",
])
def test_link_local_unspecified_and_multicast_addresses_are_refused_even_with_the_allowance(url):
    # Refused before connecting: no timeout is waited for, no retry is made.
    http = HttpClient(url, retry=RetryPolicy(attempts=4), timeout=30, sleep=pytest.fail, **ALLOW_LOCAL)
    with pytest.raises(ApiAddressRefused, match="refused"):
        http.get_json("")
    assert http.waited == 0


@pytest.mark.parametrize("url", ["http://10.1.2.3/", "http://172.16.0.9/", "http://192.168.1.1/",
                                 "http://[fc00::1]/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/"])
def test_private_addresses_are_refused_without_the_allowance(url):
    http = HttpClient(url, retry=RetryPolicy(attempts=1), timeout=30)
    with pytest.raises(ApiAddressRefused, match="private store addresses are not allowed"):
        http.get_json("")


@pytest.mark.parametrize("address, allowed_without, allowed_with", [
    ("8.8.8.8", True, True),
    ("2a00:1450:4001::200e", True, True),
    ("127.0.0.1", False, True),
    ("::1", False, True),
    ("10.0.0.5", False, True),
    ("172.31.255.255", False, True),
    ("192.168.0.10", False, True),
    ("fd12::1", False, True),
    ("::ffff:10.0.0.1", False, True),
    ("169.254.169.254", False, False),
    ("fe80::1", False, False),
    ("0.0.0.0", False, False),
    ("::", False, False),
    ("239.1.1.1", False, False),
    ("ff02::1", False, False),
])
def test_address_refusal(address, allowed_without, allowed_with):
    assert (address_refusal(address) == "") is allowed_without
    assert (address_refusal(address, allow_private=True) == "") is allowed_with


def test_the_error_for_a_refused_address_says_why_and_nothing_the_service_said(store):
    store.route("GET", "/admin", responses=[(500, {"Content-Type": "text/plain"}, "internal: db password is hunter2")])
    http = HttpClient(store.url, retry=RetryPolicy(attempts=1))
    with pytest.raises(ApiAddressRefused) as caught:
        http.get_json("admin")
    assert "hunter2" not in str(caught.value)
    assert caught.value.body == ""
    assert store.requests == []


# Page links: the store says where its next page is; the credentials go there only when it is
# the store's own address (scheme, host and port of the channel's store URL).

@pytest.fixture
def other_host():
    """Another host than the store's (127.0.0.2): it records what reaches it."""
    with FakeStore(host="127.0.0.2") as fake:
        yield fake


def two_pages(first, last):
    """A listing's handler: ``first`` for the first page, ``last`` for any page after it."""
    return lambda request: (200, {}, last) if "page_start" in request.query or "page_info" in request.query \
        else first


def shopify_pages(store, target):
    store.route("GET", "/admin/api/2025-01/orders.json", handler=two_pages(
        (200, {"Link": f'<{target}/admin/api/2025-01/orders.json?page_info=p2&limit=250>; rel="next"'},
         {"orders": [{"id": 1}]}),
        {"orders": [{"id": 2}]}))
    client = get("shopify").client({"store_url": store.url, "api_secret": "shpat_secret", **ALLOW_LOCAL},
                                   retry=RetryPolicy(attempts=1))
    return lambda: list(client.orders_since("2025-01-01T00:00:00Z"))


def mozello_orders(store, target):
    store.route("GET", "/store/orders/", handler=two_pages(
        (200, {}, {"error": False, "orders": [{"order_id": "A"}],
                   "next_page_uri": f"{target}/store/orders/?page_start=id:2"}),
        {"error": False, "orders": [{"order_id": "B"}], "next_page_uri": None}))
    client = get("mozello").client({"store_url": store.url, "api_secret": "moz-key", **ALLOW_LOCAL},
                                   retry=RetryPolicy(attempts=1))
    return lambda: list(client.orders_since("2025-01-01T00:00:00Z"))


def mozello_catalog(store, target):
    store.route("GET", "/store/products/", handler=two_pages(
        (200, {}, {"products": [{"handle": "a", "sku": "A", "stock": 1}],
                   "next_page_uri": f"{target}/store/products/?page_start=id:2"}),
        {"products": [{"handle": "b", "sku": "B", "stock": 1}], "next_page_uri": None}))
    client = get("mozello").client({"store_url": store.url, "api_secret": "moz-key", **ALLOW_LOCAL},
                                   retry=RetryPolicy(attempts=1))
    return lambda: list(client.catalog())


PAGING = pytest.mark.parametrize("read", [shopify_pages, mozello_orders, mozello_catalog],
                                 ids=["shopify-orders", "mozello-orders", "mozello-catalog"])


@PAGING
def test_a_next_page_on_another_host_is_not_followed_and_is_named(store, other_host, read):
    with pytest.raises(ApiError) as caught:
        read(store, other_host.url)()
    assert other_host.requests == []
    assert f"{other_host.url}/store/" in str(caught.value) or f"{other_host.url}/admin/" in str(caught.value)
    assert caught.value.url.startswith(other_host.url)
    assert len(store.requests) == 1


@PAGING
def test_a_next_page_on_another_port_of_the_same_host_is_not_followed(store, elsewhere, read):
    with pytest.raises(ApiError, match="another address than the store's"):
        read(store, elsewhere.url)()
    assert elsewhere.requests == []


@PAGING
def test_a_next_page_in_another_scheme_is_not_followed(store, read):
    # https on the store's own host and port: nothing answers TLS there, so only the check can
    # say what went wrong (no connection error, no attempt at all).
    target = store.url.replace("http://", "https://")
    with pytest.raises(ApiError, match=f"{target}/.*another address than the store's"):
        read(store, target)()
    assert len(store.requests) == 1


@PAGING
def test_a_next_page_on_the_store_itself_is_followed(store, read):
    # The store's address written otherwise (the scheme in capitals) is still the store's.
    assert len(read(store, store.url.replace("http://", "HTTP://"))()) == 2
    assert len(store.requests) == 2


@pytest.mark.parametrize("path", [
    "//127.0.0.2/orders",  # a network-path reference: another host
    "ftp://127.0.0.1/orders",
    "http://127.0.0.1.example/orders",
    "http://user@127.0.0.2/orders",
])
def test_an_address_that_leaves_the_store_is_refused_before_anything_is_sent(store, path):
    http = HttpClient(store.url, headers={"X-API-KEY": "k"}, retry=RetryPolicy(attempts=1), **ALLOW_LOCAL)
    with pytest.raises(ApiError, match="another address than the store's") as caught:
        http.get_json(path)
    assert path in str(caught.value)
    assert http.calls == 0
    assert store.requests == []


@pytest.mark.parametrize("base, url", [
    ("https://shop.example/admin/api/2025-01", "https://shop.example:443/admin/api/2025-01/orders.json"),
    ("https://Shop.Example:443/v1", "HTTPS://shop.example/v1/orders"),
    ("http://[::1]:8080/v1", "http://[0:0::1]:8080/other"),
])
def test_the_store_own_address_written_otherwise_is_the_store_s(base, url):
    assert HttpClient(base).url(url) == url


def teredo(client, server="65.54.227.120", port=40000):
    """The Teredo address (2001::/32) of an IPv4 ``client`` behind ``server``: the client's
    address and port are written inverted, as Teredo does."""
    return str(ipaddress.IPv6Address(
        (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64) | (0x8000 << 48)
        | ((port ^ 0xFFFF) << 32) | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)))


# IPv6 addresses that carry an IPv4 address reach it (through a translator or a tunnel):
# they are judged as the address they carry.
@pytest.mark.parametrize("address, carried, allowed_without, allowed_with", [
    ("64:ff9b::a00:1", "10.0.0.1", False, True),  # NAT64, the well-known prefix
    ("64:ff9b::7f00:1", "127.0.0.1", False, True),
    ("64:ff9b::a9fe:a9fe", "169.254.169.254", False, False),
    ("64:ff9b::808:808", "8.8.8.8", True, True),
    ("64:ff9b:1::a00:1", "10.0.0.1", False, True),  # NAT64, a local-use prefix (/96)
    ("64:ff9b:1::a9fe:a9fe", "169.254.169.254", False, False),
    ("64:ff9b:1:a9fe:a9:fe00::", "169.254.169.254", False, False),  # the same, under a /48 prefix
    ("2002:7f00:1::", "127.0.0.1", False, True),  # 6to4
    ("2002:a9fe:a9fe::1", "169.254.169.254", False, False),
    ("2002:808:808::1", "8.8.8.8", True, True),
    ("::7f00:1", "127.0.0.1", False, True),  # IPv4-compatible
    ("::a9fe:a9fe", "169.254.169.254", False, False),
    ("::ffff:0:7f00:1", "127.0.0.1", False, True),  # IPv4-translated
    ("::ffff:0:a9fe:a9fe", "169.254.169.254", False, False),
    ("::ffff:169.254.169.254", "169.254.169.254", False, False),  # IPv4-mapped
    (teredo("127.0.0.1"), "127.0.0.1", False, True),  # Teredo
    (teredo("10.0.0.1"), "10.0.0.1", False, True),
    (teredo("169.254.169.254"), "169.254.169.254", False, False),
    (teredo("8.8.8.8", server="10.0.0.9"), "10.0.0.9", False, True),  # the server counts too
    (teredo("8.8.8.8"), "", True, True),
])
def test_an_ipv6_address_is_judged_by_the_ipv4_address_it_carries(address, carried, allowed_without, allowed_with):
    without, with_allowance = address_refusal(address), address_refusal(address, allow_private=True)
    assert (without == "") is allowed_without, without
    assert (with_allowance == "") is allowed_with, with_allowance
    if without and not address.startswith("64:ff9b:1:"):  # a local-use prefix is refused as such
        assert carried in without
    if with_allowance:
        assert carried in with_allowance


# Cloud metadata services outside the link-local range: refused whatever the allowance.
@pytest.mark.parametrize("address", [
    "fd00:ec2::254",  # AWS, IPv6
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud (classic)
    "168.63.129.16",  # Azure's platform address (WireServer)
    "::ffff:100.100.100.200",
    "64:ff9b::6464:64c8",
    "64:ff9b::a83f:8110",
])
def test_cloud_metadata_addresses_are_refused_even_with_the_allowance(address):
    assert "metadata" in address_refusal(address)
    assert "metadata" in address_refusal(address, allow_private=True)


@pytest.mark.parametrize("address", ["100.100.100.201", "fd00:ec2::1", "192.0.0.1"])
def test_their_neighbours_follow_the_allowance(address):
    assert address_refusal(address) != ""
    assert address_refusal(address, allow_private=True) == ""


def test_a_metadata_address_in_a_store_url_is_refused_before_connecting():
    http = HttpClient("http://[fd00:ec2::254]/latest/meta-data/", retry=RetryPolicy(attempts=4), timeout=30,
                      sleep=pytest.fail, **ALLOW_LOCAL)
    with pytest.raises(ApiAddressRefused, match="fd00:ec2::254 is a cloud metadata service"):
        http.get_json("")
    assert http.waited == 0


# Through a proxy (HTTP_PROXY and the like) the proxy connects, and looks the store's name up
# again: what this server can check is the name as it resolves it, before the request.

@pytest.fixture
def proxy(monkeypatch):
    """A proxy for http:// URLs (a fake store: it answers a route whatever host is asked)."""
    with FakeStore() as fake:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", fake.url)
        monkeypatch.setenv("http_proxy", fake.url)
        yield fake


def test_through_a_proxy_a_store_name_that_resolves_here_is_refused_before_the_proxy_is_asked(proxy):
    http = HttpClient("http://localhost:8999", headers={"X-API-KEY": "k"}, retry=RetryPolicy(attempts=1))
    with pytest.raises(ApiAddressRefused, match="localhost is 127.0.0.1, a loopback address"):
        http.get_json("orders")
    assert proxy.requests == []


def test_through_a_proxy_an_allowed_store_is_asked_through_it(proxy):
    proxy.route("GET", "/orders", json={"orders": []})
    http = HttpClient("http://localhost:8999", headers={"X-API-KEY": "k"}, retry=RetryPolicy(attempts=1),
                      **ALLOW_LOCAL)
    assert http.get_json("orders") == {"orders": []}
    assert [r.path for r in proxy.requests] == ["/orders"]
