# hosts: homeassistant.local:8123
# modules: 

async def main():
    return (await http.get("http://homeassistant.local:8123/api/states")).json()
