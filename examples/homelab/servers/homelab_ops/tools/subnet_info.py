"""Subnet calculator (pure computation, no network access)."""

import ipaddress


async def main(network: str, address: str | None = None) -> dict:
    """Describe `network` (CIDR, e.g. "192.168.10.0/24"); if `address` is given, say whether it is inside."""
    try:
        net = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError as exc:
        return {"error": f"invalid network: {exc}"}

    info = {
        "network": str(net),
        "version": net.version,
        "netmask": str(net.netmask),
        "prefix_length": net.prefixlen,
        "num_addresses": net.num_addresses,
        "private": net.is_private,
    }
    if net.version == 4 and net.prefixlen <= 30:
        info["broadcast"] = str(net.broadcast_address)
        info["first_host"] = str(net.network_address + 1)
        info["last_host"] = str(net.broadcast_address - 1)
        info["usable_hosts"] = net.num_addresses - 2

    if address:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError as exc:
            return {"error": f"invalid address: {exc}"}
        info["address"] = str(ip)
        info["contains_address"] = ip.version == net.version and ip in net
    return info
