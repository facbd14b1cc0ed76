# hosts: a.example.com:443
# modules: 

client = http


async def main():
    return (await client.get("https://a.example.com/")).json()
