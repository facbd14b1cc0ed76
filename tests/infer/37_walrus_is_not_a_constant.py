# hosts: dynamic: `u` is rebound, not a constant
# modules: 

async def main():
    if (u := "https://a.example.com/"):
        pass
    u = "https://b.example.com/"
    return await http.get(u)
