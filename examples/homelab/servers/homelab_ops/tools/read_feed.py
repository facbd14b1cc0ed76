"""Read an RSS 2.0 or Atom feed."""

from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import ParseError

from defusedxml import ElementTree as ET  # refuses entity expansion and external DTDs

ATOM = "{http://www.w3.org/2005/Atom}"


def _iso(value: str | None) -> str | None:
    """RFC 822 dates (RSS) to ISO 8601; Atom dates are ISO already."""
    try:
        return value if not value or value[:4].isdigit() else parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError):
        return value


async def main(url: str, limit: int | None = None) -> dict:
    """Return title, link and date of the newest `limit` (default 10) entries of the feed at `url`."""
    if not url.startswith(("https://", "http://")):
        return {"error": "url must start with http:// or https://"}
    try:
        resp = await http.get(url, headers={"User-Agent": "mcpbox-homelab/1.0"})
        resp.raise_for_status()
        root = ET.fromstring(resp.text)
    except (ParseError, ValueError) as exc:  # defusedxml's refusals are ValueErrors
        return {"error": f"not a valid (or not a safe) XML feed: {exc!r}"}
    except Exception as exc:
        return {"error": f"could not fetch feed: {exc}"}

    limit = max(1, min(limit or 10, 50))
    if root.tag == f"{ATOM}feed":
        title, entries = root.findtext(f"{ATOM}title"), [
            {"title": e.findtext(f"{ATOM}title"),
             "link": next((l.get("href") for l in e.findall(f"{ATOM}link") if l.get("rel", "alternate") == "alternate"), None),
             "published": _iso(e.findtext(f"{ATOM}updated"))}
            for e in root.findall(f"{ATOM}entry")[:limit]
        ]
    elif (channel := root.find("channel")) is not None:
        title, entries = channel.findtext("title"), [
            {"title": i.findtext("title"), "link": i.findtext("link"), "published": _iso(i.findtext("pubDate"))}
            for i in channel.findall("item")[:limit]
        ]
    else:
        return {"error": f"unsupported feed format (root element <{root.tag}>)"}
    return {"feed": title, "url": url, "entries": entries}
