# hosts: dynamic: argument `sub`
# modules: 

async def main(sub: str):
    return (await http.get(f"https://{sub}.example.com/")).json()
