# hosts: api.example.com:8443
# modules: 

async def main(q: str):
    url = "https://api.example.com:8443/search"
    return (await http.get(url, params={"q": q})).json()
