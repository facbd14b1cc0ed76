"""Current weather from Open-Meteo."""

WMO = {0: "clear", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "fog", 48: "rime fog",
       51: "light drizzle", 61: "light rain", 63: "rain", 65: "heavy rain", 71: "light snow",
       73: "snow", 75: "heavy snow", 80: "rain showers", 95: "thunderstorm"}


async def main(city: str | None = None, latitude: float | None = None, longitude: float | None = None) -> dict:
    """Current conditions for `city`, or for `latitude`/`longitude` if both are given."""
    place = None
    if latitude is None or longitude is None:
        if not city:
            return {"error": "give a city or both latitude and longitude"}
        try:
            geo = await http.get("https://geocoding-api.open-meteo.com/v1/search", params={"name": city, "count": 1})
            geo.raise_for_status()
            results = geo.json().get("results")
        except Exception as exc:
            return {"error": f"geocoding failed: {exc}"}
        if not results:
            return {"error": f"unknown place: {city}"}
        latitude, longitude = results[0]["latitude"], results[0]["longitude"]
        place = f"{results[0]['name']}, {results[0].get('country', '')}".rstrip(", ")

    params = {
        "latitude": latitude,
        "longitude": longitude,
        "current": "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m",
        "timezone": "auto",
    }
    try:
        resp = await http.get("https://api.open-meteo.com/v1/forecast", params=params)
        resp.raise_for_status()
    except Exception as exc:
        return {"error": f"weather request failed: {exc}"}

    cur = resp.json()["current"]
    return {
        "place": place or f"{latitude:.3f},{longitude:.3f}",
        "time": cur["time"],
        "temperature_c": cur["temperature_2m"],
        "humidity_pct": cur["relative_humidity_2m"],
        "wind_kmh": cur["wind_speed_10m"],
        "sky": WMO.get(cur["weather_code"], f"code {cur['weather_code']}"),
    }
