# hosts: dynamic: `API` is assigned in a branch, not a constant
# modules: 

DEBUG = False
if DEBUG:
    API = "http://localhost:8000"


async def main():
    return (await http.get(API + "/x")).json()
