# hosts: a.example.com:443
# modules: 

async def main(http, q: str):
    return await http.get("https://a.example.com/?q=" + q)
