"""NetworkPolicy: the pure model and oracle, rule compilation and rendering, the agent."""
