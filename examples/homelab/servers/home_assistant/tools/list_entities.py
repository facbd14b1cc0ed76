"""List Home Assistant entities."""

HA_URL = "http://homeassistant.local:8123"


async def main(domain: str | None = None, limit: int | None = None) -> dict:
    """List entity ids with their state and friendly name.

    Args:
        domain: only entities of this domain, e.g. "light" or "sensor".
        limit: maximum number of entities to return (default 100).
    """
    limit = max(1, min(limit or 100, 1000))
    headers = {"Authorization": f"Bearer {secrets['HA_TOKEN']}"}
    try:
        resp = await http.get(f"{HA_URL}/api/states", headers=headers)
        resp.raise_for_status()
    except Exception as exc:
        return {"error": f"could not list entities: {exc}"}

    prefix = f"{domain.strip().lower()}." if domain else ""
    entities = [
        {
            "entity_id": item["entity_id"],
            "state": item["state"],
            "name": item.get("attributes", {}).get("friendly_name"),
        }
        for item in resp.json()
        if item["entity_id"].startswith(prefix)
    ]
    entities.sort(key=lambda e: e["entity_id"])
    return {"count": len(entities), "entities": entities[:limit], "truncated": len(entities) > limit}
