# hosts: 
# modules: .helpers; os; dynamic: the module name is computed at run time

from .helpers import slug


async def main(name: str):
    __import__("os")
    return __import__(name)
