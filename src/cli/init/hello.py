"""A first tool: MCPBox's sandbox runs `main` with the arguments the LLM sends."""


async def main(name: str, excited: bool = False) -> dict:
    """Greet `name`; with `excited`, louder."""
    greeting = f"Hello, {name}"
    return {"greeting": greeting + ("!" if excited else ".")}
