"""Daily forecast from Open-Meteo."""


async def main(latitude: float, longitude: float, days: int | None = None) -> dict:
    """Daily min/max temperature and precipitation for the next `days` days (default 3, max 16).

    Use geocode_city first to turn a place name into coordinates.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return {"error": "latitude must be within ±90 and longitude within ±180"}
    params = {
        "latitude": latitude,
        "longitude": longitude,
        "daily": "temperature_2m_max,temperature_2m_min,precipitation_sum,precipitation_probability_max",
        "forecast_days": max(1, min(days or 3, 16)),
        "timezone": "auto",
    }
    try:
        resp = await http.get("https://api.open-meteo.com/v1/forecast", params=params)
        resp.raise_for_status()
    except Exception as exc:
        return {"error": f"forecast request failed: {exc}"}

    daily = resp.json()["daily"]
    return {
        "timezone": resp.json().get("timezone"),
        "days": [
            {
                "date": date,
                "min_c": daily["temperature_2m_min"][i],
                "max_c": daily["temperature_2m_max"][i],
                "precipitation_mm": daily["precipitation_sum"][i],
                "precipitation_chance_pct": daily["precipitation_probability_max"][i],
            }
            for i, date in enumerate(daily["time"])
        ],
    }
