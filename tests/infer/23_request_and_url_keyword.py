# hosts: a.example.com:443; b.example.com:80
# modules: 

async def main():
    await http.request("POST", "https://a.example.com/hook", json={})
    return await http.get(url="http://b.example.com/")
