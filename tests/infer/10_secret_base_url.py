# hosts: dynamic: secret `HA_URL`
# modules: 

async def main():
    return (await http.get(secrets["HA_URL"] + "/api/states")).json()
