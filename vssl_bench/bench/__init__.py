"""Running the benchmark: named grids, recipes, the Trainer, the stages of a cell, the runner, the sweep
and the commands. What turns the records into tables is :mod:`vssl_bench.report`."""
