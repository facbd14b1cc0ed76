# hosts: dynamic: the URL is formatted at run time
# modules: 

API = "https://api.example.com"


async def main():
    return await http.get(f"{API!s}/x")
