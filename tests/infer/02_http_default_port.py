# hosts: pihole.lan:80
# modules: 

async def main():
    return (await http.get("http://pihole.lan/api/stats")).json()
