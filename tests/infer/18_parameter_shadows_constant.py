# hosts: dynamic: argument `API`
# modules: 

API = "https://api.example.com"


async def main(API: str):
    return (await http.get(f"{API}/x")).json()
