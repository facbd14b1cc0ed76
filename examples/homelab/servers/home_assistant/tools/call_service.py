"""Call a Home Assistant service on one entity."""

HA_URL = "http://homeassistant.local:8123"
ALLOWED_DOMAINS = {"light", "switch", "fan", "cover", "scene", "script", "climate"}


async def main(service: str, entity_id: str, data: dict | None = None) -> dict:
    """Call `service` (format "domain.service", e.g. "light.turn_on") for `entity_id`.

    Args:
        service: service to call, e.g. "light.turn_off" or "climate.set_temperature".
        entity_id: target entity, e.g. "light.kitchen".
        data: extra service data, e.g. {"brightness_pct": 40}.
    """
    domain, _, action = service.strip().lower().partition(".")
    if not action:
        return {"error": f"'{service}' is not a service (expected domain.service)"}
    if domain not in ALLOWED_DOMAINS:
        return {"error": f"domain '{domain}' is not allowed; use one of {sorted(ALLOWED_DOMAINS)}"}

    payload = dict(data or {})
    payload["entity_id"] = entity_id
    headers = {"Authorization": f"Bearer {secrets['HA_TOKEN']}"}
    try:
        resp = await http.post(f"{HA_URL}/api/services/{domain}/{action}", headers=headers, json=payload)
        resp.raise_for_status()
    except Exception as exc:
        return {"error": f"service call failed: {exc}"}

    changed = [{"entity_id": s["entity_id"], "state": s["state"]} for s in resp.json()]
    return {"service": f"{domain}.{action}", "changed": changed}
