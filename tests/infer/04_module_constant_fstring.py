# hosts: api.github.com:443
# modules: 

API = "https://api.github.com"


async def main(repo: str):
    return (await http.get(f"{API}/repos/{repo}")).json()
