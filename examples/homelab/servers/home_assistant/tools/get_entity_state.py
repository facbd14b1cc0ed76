"""Read the state of a single Home Assistant entity."""

HA_URL = "http://homeassistant.local:8123"


async def main(entity_id: str) -> dict:
    """Return state, attributes and last change time of `entity_id`.

    Args:
        entity_id: full entity id, e.g. "sensor.living_room_temperature".
    """
    entity_id = entity_id.strip().lower()
    if "." not in entity_id:
        return {"error": f"'{entity_id}' is not an entity id (expected domain.object_id)"}

    headers = {"Authorization": f"Bearer {secrets['HA_TOKEN']}"}
    try:
        resp = await http.get(f"{HA_URL}/api/states/{entity_id}", headers=headers)
    except Exception as exc:  # network error, timeout, host not allowed
        return {"error": f"Home Assistant unreachable: {exc}"}

    if resp.status_code == 404:
        return {"error": f"unknown entity: {entity_id}"}
    if resp.status_code == 401:
        return {"error": "Home Assistant rejected HA_TOKEN (401)"}
    resp.raise_for_status()

    data = resp.json()
    return {
        "entity_id": data["entity_id"],
        "state": data["state"],
        "unit": data.get("attributes", {}).get("unit_of_measurement"),
        "friendly_name": data.get("attributes", {}).get("friendly_name"),
        "attributes": data.get("attributes", {}),
        "last_changed": data.get("last_changed"),
    }
