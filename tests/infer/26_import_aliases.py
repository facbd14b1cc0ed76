# hosts: 
# modules: xml.etree.ElementTree; collections.abc; email.utils

import xml.etree.ElementTree as ET
import collections.abc as cabc
from email.utils import parsedate_to_datetime as parse_date


async def main(xml: str):
    return ET.fromstring(xml).tag
