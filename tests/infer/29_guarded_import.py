# hosts: 
# modules: ?orjson; json

try:
    import orjson
except ImportError:
    orjson = None
import json


async def main(x: dict):
    return orjson.dumps(x) if orjson else json.dumps(x)
