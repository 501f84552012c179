"""penguiflow.memory: under construction."""
