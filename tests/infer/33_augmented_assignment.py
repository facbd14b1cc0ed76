# hosts: dynamic: `url` is rebound, not a constant
# modules: 

async def main(page: int):
    url = "https://a.example.com/items"
    url += f"?page={page}"
    return await http.get(url)
