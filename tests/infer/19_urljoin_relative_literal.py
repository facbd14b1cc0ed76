# hosts: api.example.com:443
# modules: urllib.parse

from urllib.parse import urljoin

BASE = "https://api.example.com/v2/"


async def main():
    return (await http.get(urljoin(BASE, "items"))).json()
