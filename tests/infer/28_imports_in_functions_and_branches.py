# hosts: 
# modules: json; ipaddress; yaml

import json


async def main(net: str, as_yaml: bool = False):
    import ipaddress

    out = {"n": str(ipaddress.ip_network(net))}
    if as_yaml:
        import yaml

        return yaml.safe_dump(out)
    return json.dumps(out)
