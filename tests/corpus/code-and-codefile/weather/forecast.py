async def main(city: str):
    return city
