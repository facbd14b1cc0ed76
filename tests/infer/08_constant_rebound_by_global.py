# hosts: dynamic: `API` is rebound, not a constant
# modules: 

API = "https://a.example.com"


def switch():
    global API
    API = "https://b.example.com"


async def main():
    return (await http.get(f"{API}/x")).json()
