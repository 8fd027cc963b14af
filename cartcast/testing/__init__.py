"""Support for the test suite and the benchmarks only: the independent Polars oracle of the
marts and a throwaway local redis-server. Nothing in the product imports this package."""
