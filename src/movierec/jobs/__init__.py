"""Background work: the refresh use-cases and the scheduler process that runs them."""
