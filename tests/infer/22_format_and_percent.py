# hosts: api.example.com:443; dynamic: the URL is %-formatted
# modules: 

async def main(host: str, item: str):
    await http.get("https://api.example.com/items/{}".format(item))
    return await http.get("https://%s/x" % host)
