"""The benchmark: named grids, the sweep runner, run records and the leaderboard."""
