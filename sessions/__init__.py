"""penguiflow.sessions: under construction."""
