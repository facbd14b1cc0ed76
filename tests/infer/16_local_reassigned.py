# hosts: dynamic: `url` is rebound, not a constant
# modules: 

async def main(q: str):
    url = "https://a.example.com/"
    if q:
        url = "https://b.example.com/"
    return (await http.get(url)).json()
