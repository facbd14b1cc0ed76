# hosts: dynamic: `u` is rebound, not a constant
# modules: 

u = "https://a.example.com/"


async def main(urls: list):
    return [await http.get(u) for u in urls]
