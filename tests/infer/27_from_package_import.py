# hosts: 
# modules: xml.etree; urllib

from xml.etree import ElementTree
from urllib import parse


async def main(xml: str):
    return ElementTree.fromstring(xml).tag
