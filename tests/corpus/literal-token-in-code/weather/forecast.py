API = "xoxb-2048213-92837461-aZ9bY8cX7dW6"

async def main(city: str):
    return city
