# hosts: api.example.com:443
# modules: 

BASE = "https://api.example.com"


async def main(ids: list):
    async def one(i):
        return (await http.get(f"{BASE}/items/{i}")).json()

    return [await one(i) for i in ids]
