# hosts: h.example.net:9000
# modules: 

async def main():
    return await http.get("https://bot@h.example.net"
                          ":9000/api")
