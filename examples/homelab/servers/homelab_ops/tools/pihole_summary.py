"""Pi-hole v6 summary statistics."""

PIHOLE = "http://pihole.lan/api"


async def main() -> dict:
    """Log in with the app password, read /api/stats/summary, and log out again."""
    try:
        auth = await http.post(f"{PIHOLE}/auth", json={"password": secrets["PIHOLE_APP_PASSWORD"]})
        auth.raise_for_status()
        session = auth.json()["session"]
        if not session.get("valid"):
            return {"error": "Pi-hole rejected PIHOLE_APP_PASSWORD"}
    except Exception as exc:
        return {"error": f"Pi-hole login failed: {exc}"}

    headers = {"X-FTL-SID": session["sid"]}
    try:
        resp = await http.get(f"{PIHOLE}/stats/summary", headers=headers)
        resp.raise_for_status()
        stats = resp.json()
    except Exception as exc:
        return {"error": f"could not read statistics: {exc}"}
    finally:
        try:
            await http.delete(f"{PIHOLE}/auth", headers=headers)  # free the API session slot
        except Exception:
            pass

    queries = stats.get("queries", {})
    return {
        "queries_total": queries.get("total"),
        "queries_blocked": queries.get("blocked"),
        "percent_blocked": round(queries.get("percent_blocked", 0.0), 1),
        "domains_on_blocklist": stats.get("gravity", {}).get("domains_being_blocked"),
        "active_clients": stats.get("clients", {}).get("active"),
    }
