"""Replay games: finite hypothesis classes, generation in the limit with a replay adversary, a solver."""
