"""Dynamic Registration fetches only public addresses: the caller names the URLs (no SSRF)."""

from __future__ import annotations

import pytest
import requests

from lti_bridge.adapters.lti.dynamic_registration import DynamicRegistrationClient
from lti_bridge.domain.errors import ForbiddenError

URL = "https://lms.example.edu/.well-known/openid-configuration"


class RefusingSession(requests.Session):
    """A session that fails the test if anything is requested."""

    def request(self, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
        raise AssertionError("no request may be made")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "::1",
     "fe80::1", "fd00::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1"],
)
def test_a_host_resolving_to_a_private_link_local_or_loopback_address_is_never_fetched(
    address: str,
) -> None:
    client = DynamicRegistrationClient(
        RefusingSession(), timeout=1.0, resolver=lambda host, port: ["93.184.215.14", address]
    )

    with pytest.raises(ForbiddenError, match="non-public"):
        client.fetch_configuration(URL)


def test_private_addresses_are_fetched_only_when_allowed_for_development() -> None:
    asked: list[str] = []

    class Recording(requests.Session):
        def request(self, method: str, url: str, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]  # noqa: E501
            asked.append(url)
            raise requests.ConnectionError("not really")

    client = DynamicRegistrationClient(
        Recording(), timeout=1.0, allow_private_networks=True,
        resolver=lambda host, port: ["10.0.0.5"],
    )

    with pytest.raises(Exception, match="could not reach|failed"):
        client.fetch_configuration(URL)
    assert asked == [URL]
