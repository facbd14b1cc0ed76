# hosts: 
# modules: httpx

import httpx


async def main():
    async with httpx.AsyncClient() as c:
        return (await c.get("https://a.example.com/")).json()
