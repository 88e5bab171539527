"""What the run tells the team's own tools while it goes (Prometheus)."""
