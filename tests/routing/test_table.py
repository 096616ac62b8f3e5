"""Route rules: first match wins over prefix, regex, region, number type, account, source."""

from __future__ import annotations

from smsc.config import NO_NETWORK, RouteConfig, RoutingConfig
from smsc.pdu.constants import Npi, Ton
from smsc.routing.table import RoutingTable

NETWORKS = ("home", "roaming", "premium", "partner")


def table(**fields: object) -> RoutingTable:
    rules = (
        RouteConfig(network="partner", account="bigbank"),
        RouteConfig(network="premium", number_type="premium_rate"),
        RouteConfig(network="home", prefix="+4915"),
        RouteConfig(network=NO_NETWORK, regex=r"999\d*"),
        RouteConfig(network="home", region="DE"),
        RouteConfig(network="roaming", source_prefix="44"),
    )
    return RoutingTable(RoutingConfig(rules=rules, **fields), NETWORKS)  # type: ignore[arg-type]


def network(routes: RoutingTable, destination: str, *, account: str = "acme",
            source: str = "100", ton: int = Ton.INTERNATIONAL) -> str | None:
    return routes.resolve(ton=ton, npi=Npi.ISDN, destination=destination, account=account,
                          source=source).network


def test_first_matching_rule_wins() -> None:
    routes = table()
    assert network(routes, "4915112345678", account="bigbank") == "partner"
    assert network(routes, "4915112345678") == "home"  # prefix
    assert network(routes, "4930123456") == "home"  # region DE
    assert network(routes, "999123", ton=Ton.UNKNOWN) is None  # routed nowhere
    assert network(routes, "12025550123", source="4420") == "roaming"
    assert network(routes, "12025550123") == "home"  # nothing matched: the first network


def test_premium_numbers_by_type() -> None:
    assert network(table(default_region="GB"), "+449090901234") == "premium"


def test_default_network_and_no_default() -> None:
    assert network(table(default_network="roaming"), "12025550123") == "roaming"
    assert network(table(default_network=NO_NETWORK), "12025550123") is None


def test_numbers_are_parsed_only_when_a_rule_or_validation_needs_them() -> None:
    plain = RoutingTable(RoutingConfig(rules=(RouteConfig(network="partner", account="x"),)),
                         NETWORKS)
    route = plain.resolve(ton=1, npi=1, destination="4915112345678", account="y", source="1")
    assert route.network == "home" and route.number is None
    checked = RoutingTable(RoutingConfig(validate_numbers=True), NETWORKS)
    route = checked.resolve(ton=1, npi=1, destination="4915112345678", account="y", source="1")
    assert route.number is not None and route.number.valid
