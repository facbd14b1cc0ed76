# hosts: api.example.com:443; dynamic: argument `u`
# modules: 

BASE = "https://api.example.com"


class Client:
    BASE = "https://shadowed.example.com"

    async def fetch(self, path):
        return await http.get(BASE + "/" + path)


fetch_any = lambda u: http.get(u)


async def main():
    return await Client().fetch("x")
