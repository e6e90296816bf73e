"""The eval harness: datasets, suites, runner, response cache, scorers, statistics, comparison."""
