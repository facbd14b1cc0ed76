# hosts: 
# modules: 

async def main():
    try:
        await http.get("ftp://files.example.com/x")
    except Exception:
        pass
    return await http.get("/relative/path")
