"""penguiflow.planner: under construction."""
