"""The scheduler: pure filters, scores and decision; a watch loop that binds."""
