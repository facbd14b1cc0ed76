# hosts: dynamic: secret `BASE`
# modules: 

async def main():
    return (await http.get(f"{secrets.get('BASE')}/api")).json()
