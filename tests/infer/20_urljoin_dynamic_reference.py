# hosts: dynamic: urljoin with a run-time second argument may replace the host (argument `path`)
# modules: urllib.parse

import urllib.parse as up

BASE = "https://api.example.com/v2/"


async def main(path: str):
    return (await http.get(up.urljoin(BASE, path))).json()
