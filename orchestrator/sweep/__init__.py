"""From a composed config to the sweep's trials: engine-option axes, the grid of trials with stable
ids, several engines in one sweep, the placement plan, the checks that need engines or the planned
cluster, and the dry run's launch commands. Pure: nothing is started here.
"""
