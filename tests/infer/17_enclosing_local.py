# hosts: api.example.com:443
# modules: 

async def main():
    base = "https://api.example.com/"

    async def fetch(path):
        return (await http.get(base + path)).json()

    return await fetch("x")
