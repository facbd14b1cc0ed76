# hosts: dynamic: argument `path`
# modules: 

async def main(path: str):
    return (await http.get("https://api.example.com" + path)).json()
