# hosts: dynamic: argument `url`
# modules: 

async def main(url: str):
    return (await http.get(url)).text
