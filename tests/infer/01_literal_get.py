# hosts: api.example.com:443
# modules: 

async def main():
    return (await http.get("https://api.example.com/v1/items")).json()
