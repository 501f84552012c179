"""penguiflow.tools: under construction."""
