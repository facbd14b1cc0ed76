# hosts: dynamic: `API` is rebound, not a constant
# modules: 

API = "https://api.github.com"
API = "https://staging.example.com"


async def main():
    return (await http.get(f"{API}/x")).json()
