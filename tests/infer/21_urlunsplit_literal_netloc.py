# hosts: feeds.example.org:443
# modules: urllib.parse

import urllib.parse


async def main(q: str):
    url = urllib.parse.urlunsplit(("https", "feeds.example.org", "/rss", q, ""))
    return (await http.get(url)).text
