"""The README's first agent: a typed function as a tool, an agent, a run.

    python examples/hello_agent/agent.py

``"test"`` is the offline test model: it calls each tool once, then answers. Put a
LiteLLM model string there (``"openai/gpt-4o-mini"``, with ``OPENAI_API_KEY`` set) for a
real model.
"""

from penguiflow import Agent, tool


@tool
async def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny, 21 °C in {city}"


agent = Agent("test", tools=[get_weather])  # or "openai/gpt-4o-mini"
print(agent.run_sync("What is the weather in Paris?").payload.raw_answer)
